package esdb

import (
	"context"
	"fmt"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// conn holds the client and works around two traits of client v4.2.0
// (esdb/impl.go, connectionStateMachine):
//
//   - It gives up for good. When discovering the node fails
//     MaxDiscoverAttempts times in a row (at the first call, or after the
//     node went away), the client marks itself closed and every later call
//     fails with ErrorCodeConnectionClosed. A Store made by Open owns its
//     client and replaces it then (retire); one made by New cannot.
//   - It can block without looking at ctx. Calls hand requests to the
//     connection state machine over an unbuffered channel; once the state
//     machine has given up, senders block forever. Discovery itself uses its
//     own timeouts, not the caller's. So run executes every operation in a
//     goroutine and returns when ctx ends, whatever the client does.
//     (Without it, 15 of 16 concurrent first calls to an unreachable server
//     never return; see TestCallsEndWithTheirContextWhenTheClientHangs.)
//
// The alternative, a client of our own on raw gRPC, would be more code to
// keep in step with the server than these two guards.
type conn struct {
	config *esdb.Configuration // nil when the caller owns the client

	mu     sync.Mutex
	client *esdb.Client
	closed bool
}

func (c *conn) current() (*esdb.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	return c.client, nil
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// retire replaces dead, a client that gave up, with a new one. It leaves
// dead open: closing it would release the calls stuck in it (they would
// panic on the closed channel, which run recovers), but closing a channel
// under a blocked send is a data race. Those calls have returned to their
// callers already; what leaks is their goroutines, as many as were queued
// when the client gave up.
func (c *conn) retire(dead *esdb.Client) {
	if c.config == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.client != dead {
		return
	}
	fresh, err := esdb.NewClient(c.config)
	if err != nil { // the configuration was valid when Open used it
		return
	}
	c.client = fresh
}

func (c *conn) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.config == nil {
		return nil
	}
	return c.client.Close()
}

type outcome[T any] struct {
	v     T
	err   error
	panic any
}

// run executes op on the current client and returns op's result, or
// ctx.Err() as soon as ctx ends (see conn). A panic in the client (it
// panics on messages it does not expect, and on a send to a closed client)
// is returned as an error: the caller could not recover it, since it
// happens on run's goroutine.
func run[T any](ctx context.Context, c *conn, op func(context.Context, *esdb.Client) (T, error)) (T, error) {
	var zero T
	client, err := c.current()
	if err != nil {
		return zero, err
	}
	done := make(chan outcome[T], 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- outcome[T]{panic: r}
			}
		}()
		v, err := op(ctx, client)
		done <- outcome[T]{v: v, err: err}
	}()

	var out outcome[T]
	select {
	case out = <-done:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	if out.panic != nil {
		return zero, c.panicked(out.panic)
	}
	if code, ok := codeOf(out.err); ok && code == esdb.ErrorCodeConnectionClosed {
		c.retire(client)
	}
	return out.v, out.err
}

// panicked explains a panic of client: expected when the store was closed
// under a call stuck in the client, a bug otherwise.
func (c *conn) panicked(p any) error {
	if c.isClosed() {
		return fmt.Errorf("%w (client panicked: %v)", ErrClosed, p)
	}
	return fmt.Errorf("esdb client panicked: %v", p)
}
