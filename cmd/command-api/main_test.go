package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/postgres"
)

// binary is the command-api executable built by TestMain. A package variable because TestMain has no
// other way to hand it to the tests.
var binary string

// TestMain builds the real binary once; the tests start it as a process and talk to it over HTTP.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "command-api-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "command-api")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build command-api:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running command-api process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	c    *client // talks to this server
	logs *lockedBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, once done is closed
}

// lockedBuffer collects a process's output for the test log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is the process environment: only what is given, so that nothing from the test's own
// environment (a DATABASE_URL of CI, say) leaks in.
func env(settings map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	if raceEnabled {
		// A race-enabled binary sleeps 1 s at exit by default, waiting for late race reports; a found
		// race still makes it exit 66, which fails the test.
		out = append(out, "GORACE=atexit_sleep_ms=100")
	}
	for k, v := range settings {
		out = append(out, k+"="+v)
	}
	return out
}

// start runs the binary with settings (HTTP_ADDR defaults to a free port on 127.0.0.1), waits until
// /healthz answers, and stops it at cleanup if the test did not.
func start(t *testing.T, settings map[string]string) *server {
	t.Helper()
	if settings["HTTP_ADDR"] == "" {
		settings["HTTP_ADDR"] = "127.0.0.1:0"
	}
	s := &server{t: t, logs: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(binary)
	s.cmd.Env = env(settings)
	s.cmd.Stderr = s.logs
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// The binary logs the address it listens on; with port 0 that is how the test learns the port.
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = s.logs.Write([]byte(line + "\n"))
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "listening" {
				addr <- entry.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(30 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if t.Failed() {
			t.Logf("command-api output:\n%s", s.logs.String())
		}
	})

	select {
	case a := <-addr:
		s.url = "http://" + a
	case <-s.done:
		t.Fatalf("command-api exited at start-up: %v\n%s", s.err, s.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("command-api did not listen within 60s\n%s", s.logs.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.c = newClient(t, s.url)
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz did not answer 200 within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM to the process and checks that it exits 0 within 30 s. It first closes the
// client's idle keep-alive connections, as a load balancer draining the instance would: the server
// waits up to 5 s for connections that were opened but never carried a request.
func (s *server) stop() {
	s.t.Helper()
	s.c.http.CloseIdleConnections()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	s.wait()
}

// wait checks that the process exits 0 within 30 s.
func (s *server) wait() {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatal("command-api did not exit within 30s of SIGTERM")
	}
	if s.err != nil {
		s.t.Fatalf("command-api exited with %v", s.err)
	}
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
