package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/postgres"
	"github.com/orderflow/orderflow/internal/proctest"
)

// binary is the command-api executable built by TestMain. A package variable because TestMain has no
// other way to hand it to the tests.
var binary string

// TestMain builds the real binary once; the tests start it as a process and talk to it over HTTP.
func TestMain(m *testing.M) {
	proctest.Main(m, func(b []string) { binary = b[0] }, "github.com/orderflow/orderflow/cmd/command-api")
}

// server is one running command-api process.
type server struct {
	proc *proctest.Process
	c    *client // talks to this server
}

// start runs the binary with settings (HTTP_ADDR defaults to a free port on 127.0.0.1), waits until
// /healthz answers, and stops it at cleanup if the test did not.
func start(t *testing.T, settings map[string]string) *server {
	t.Helper()
	p := proctest.Start(t, binary, settings)
	p.WaitOK("/healthz")
	return &server{proc: p, c: newClient(t, p.URL)}
}

// stop sends SIGTERM to the process and checks that it exits 0 within 30 s. It first closes the
// client's idle keep-alive connections, as a load balancer draining the instance would: the server
// waits up to 5 s for connections that were opened but never carried a request.
func (s *server) stop() {
	s.c.http.CloseIdleConnections()
	s.proc.Signal(syscall.SIGTERM)
	s.proc.Wait()
}

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// result is the body of a successful command.
type result struct {
	OrderID  string `json:"order_id"`
	Version  uint64 `json:"version"`
	Position string `json:"position"`
}

func (r response) result(t *testing.T) result {
	t.Helper()
	var res result
	r.json(t, &res)
	return res
}

// problem is the body of an error.
type problem struct {
	Type           string  `json:"type"`
	Title          string  `json:"title"`
	Status         int     `json:"status"`
	Detail         string  `json:"detail"`
	Instance       string  `json:"instance"`
	Rule           string  `json:"rule"`
	CurrentVersion *uint64 `json:"current_version"`
	OrderID        string  `json:"order_id"`
	Errors         []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

func (r response) problem(t *testing.T) problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json (status %d, %s)", ct, r.status, r.body)
	}
	var p problem
	r.json(t, &p)
	if p.Status != r.status {
		t.Errorf("problem status %d, response status %d", p.Status, r.status)
	}
	return p
}

// client sends requests to one server.
type client struct {
	t    testing.TB
	http *http.Client
	base string
}

func newClient(t testing.TB, base string) *client {
	return &client{t: t, base: base, http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 100, MaxConnsPerHost: 100},
	}}
}

// do sends a request; body "" sends none, and a body is sent as application/json unless headers set
// another Content-Type. headers alternate names and values. A request that gets no response is an
// error of the test and returns status 0; do is safe to call from any goroutine.
func (c *client) do(method, path, body string, headers ...string) response {
	c.t.Helper()
	r, err := c.try(method, path, body, headers...)
	if err != nil {
		c.t.Errorf("%s %s: %v", method, path, err)
	}
	return r
}

func (c *client) try(method, path, body string, headers ...string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// openStore opens the PostgreSQL event store at url, to check what the binary wrote.
func openStore(t *testing.T, url string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := postgres.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// stream reads an order's whole stream.
func stream(t *testing.T, store eventstore.StreamReader, orderID string) []eventstore.RecordedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	events, err := store.ReadStream(ctx, "order-"+orderID, 1, 10_000)
	if err != nil {
		t.Fatalf("read order-%s: %v", orderID, err)
	}
	return events
}
