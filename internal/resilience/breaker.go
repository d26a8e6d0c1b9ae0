// Package resilience protects callers from an event store that is down: a circuit breaker that fails
// calls fast, with a hint of when to try again, instead of letting every request wait for its timeout.
package resilience

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/orderflow/orderflow/eventstore"
)

// ErrCircuitOpen is returned, inside an *OpenError, while the breaker refuses calls.
var ErrCircuitOpen = errors.New("circuit breaker open")

// OpenError is the error of a call the breaker refused. It matches both ErrCircuitOpen and
// eventstore.ErrUnavailable, so callers that only know the store's errors treat it as an outage.
type OpenError struct {
	// Wait is how long until the breaker lets a trial call through.
	Wait time.Duration
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("%v: %v (retry in %s)", eventstore.ErrUnavailable, ErrCircuitOpen, e.Wait.Round(time.Millisecond))
}

func (e *OpenError) Unwrap() []error { return []error{ErrCircuitOpen, eventstore.ErrUnavailable} }

// RetryAfter is what an HTTP layer puts in Retry-After.
func (e *OpenError) RetryAfter() time.Duration { return e.Wait }

// Settings configure a Breaker. Zero fields take the defaults.
type Settings struct {
	// Failures is how many outage failures in a row open the breaker (default 5).
	Failures uint32
	// OpenFor is how long the breaker stays open before letting one trial call through (default 10 s).
	OpenFor time.Duration
	// Logger, if set, gets a line at each change of state.
	Logger *slog.Logger
}

// Breaker is an eventstore.Store that passes calls to another one until it looks down.
//
// Only outages count against it: errors matching eventstore.ErrUnavailable or
// context.DeadlineExceeded. A version conflict or a missing stream is the store working as it should,
// and a cancelled ctx is the caller giving up, which says nothing about the store (gobreaker's
// IsExcluded). After Settings.Failures outages in a row the breaker opens and refuses calls with an
// *OpenError for Settings.OpenFor; then one trial call goes through (half-open), and its outcome closes
// or reopens the breaker.
//
// A breaker per process, not shared between replicas: each replica learns about the outage on its
// own, which costs a few failed calls per replica and needs no coordination.
type Breaker struct {
	store   eventstore.Store
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	openFor time.Duration

	mu       sync.Mutex
	openedAt time.Time
}

var _ eventstore.Store = (*Breaker)(nil)

// NewBreaker wraps store.
func NewBreaker(store eventstore.Store, s Settings) *Breaker {
	if s.Failures == 0 {
		s.Failures = 5
	}
	if s.OpenFor <= 0 {
		s.OpenFor = 10 * time.Second
	}
	b := &Breaker{store: store, openFor: s.OpenFor}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "eventstore",
		MaxRequests: 1,
		Timeout:     s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.Failures },
		IsSuccessful: func(err error) bool {
			return !isOutage(err)
		},
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled) && !isOutage(err)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.mu.Lock()
				b.openedAt = time.Now()
				b.mu.Unlock()
			}
			if s.Logger != nil {
				s.Logger.Warn("event store circuit breaker", "from", from.String(), "to", to.String())
			}
		},
	})
	return b
}

func isOutage(err error) bool {
	return errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// State returns "closed", "open" or "half-open".
func (b *Breaker) State() string { return b.cb.State().String() }

// refused builds the error for a call the breaker did not let through: while open, the time left; in
// half-open, where the trial call is still running, a short wait.
func (b *Breaker) refused() error {
	b.mu.Lock()
	wait := b.openFor - time.Since(b.openedAt)
	b.mu.Unlock()
	if wait < 100*time.Millisecond {
		wait = 100 * time.Millisecond
	}
	return &OpenError{Wait: wait}
}

// call runs op if the breaker allows it and reports op's outcome to the breaker.
func call[T any](b *Breaker, op func() (T, error)) (T, error) {
	done, err := b.cb.Allow()
	if err != nil {
		var zero T
		return zero, b.refused()
	}
	v, err := op()
	done(err)
	return v, err
}

// Append implements eventstore.Appender.
func (b *Breaker) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	return call(b, func() (eventstore.AppendResult, error) { return b.store.Append(ctx, stream, expected, events...) })
}

// ReadStream implements eventstore.StreamReader.
func (b *Breaker) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	return call(b, func() ([]eventstore.RecordedEvent, error) { return b.store.ReadStream(ctx, stream, from, max) })
}

// ReadAll implements eventstore.LogReader.
func (b *Breaker) ReadAll(ctx context.Context, from eventstore.Position, max int) ([]eventstore.RecordedEvent, error) {
	return call(b, func() ([]eventstore.RecordedEvent, error) { return b.store.ReadAll(ctx, from, max) })
}

// Head implements eventstore.LogReader.
func (b *Breaker) Head(ctx context.Context) (eventstore.Position, error) {
	return call(b, func() (eventstore.Position, error) { return b.store.Head(ctx) })
}
