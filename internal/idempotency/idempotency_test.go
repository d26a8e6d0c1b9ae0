package idempotency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/migrations"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newStore(t *testing.T, ttl time.Duration) (*Store, *clock, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := migrations.Up(ctx, url, migrations.Commands()); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 30
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	return New(pool, Options{TTL: ttl, Now: c.Now}), c, pool
}

// counter is a run function that counts its calls and answers a fixed response.
type counter struct {
	calls atomic.Int32
	delay time.Duration
	keep  bool
	resp  Response
}

func (c *counter) run(context.Context) (Response, bool) {
	c.calls.Add(1)
	time.Sleep(c.delay)
	return c.resp, c.keep
}

func created(n int) Response {
	return Response{
		Status: 201,
		Header: map[string]string{"Content-Type": "application/json", "Location": fmt.Sprintf("/orders/%d", n), "ETag": `"1"`},
		Body:   []byte(fmt.Sprintf(`{"n":%d}`, n)),
	}
}

func TestRepeatIsReplayed(t *testing.T) {
	s, _, _ := newStore(t, time.Hour)
	run := &counter{keep: true, resp: created(1)}
	hash := RequestHash("POST", "/orders", "", []byte(`{}`))

	first, replayed, err := s.Do(t.Context(), "k1", hash, run.run)
	if err != nil || replayed || !reflect.DeepEqual(first, run.resp) {
		t.Fatalf("first Do = %+v, %v, %v", first, replayed, err)
	}
	again, replayed, err := s.Do(t.Context(), "k1", hash, run.run)
	if err != nil || !replayed {
		t.Fatalf("repeat = %+v, replayed %v, %v", again, replayed, err)
	}
	if !reflect.DeepEqual(again, first) {
		t.Errorf("replayed %+v, want %+v", again, first)
	}
	if got := run.calls.Load(); got != 1 {
		t.Errorf("run called %d times, want 1", got)
	}
}

func TestDifferentRequestWithSameKeyIsRefused(t *testing.T) {
	s, _, _ := newStore(t, time.Hour)
	run := &counter{keep: true, resp: created(1)}
	if _, _, err := s.Do(t.Context(), "k1", RequestHash("POST", "/orders", "", []byte(`{"a":1}`)), run.run); err != nil {
		t.Fatal(err)
	}
	for _, other := range [][]byte{
		RequestHash("POST", "/orders", "", []byte(`{"a":2}`)),
		RequestHash("POST", "/orders/x", "", []byte(`{"a":1}`)),
		RequestHash("POST", "/orders", `"3"`, []byte(`{"a":1}`)),
		RequestHash("PUT", "/orders", "", []byte(`{"a":1}`)),
	} {
		if _, _, err := s.Do(t.Context(), "k1", other, run.run); !errors.Is(err, ErrKeyReused) {
			t.Errorf("Do with another request = %v, want ErrKeyReused", err)
		}
	}
	if got := run.calls.Load(); got != 1 {
		t.Errorf("run called %d times, want 1", got)
	}
}

func TestConcurrentRepeatsRunOnce(t *testing.T) {
	s, _, _ := newStore(t, time.Hour)
	run := &counter{keep: true, resp: created(1), delay: 50 * time.Millisecond}
	hash := RequestHash("POST", "/orders", "", nil)

	const n = 20
	var wg sync.WaitGroup
	var replays atomic.Int32
	for range n {
		wg.Go(func() {
			resp, replayed, err := s.Do(t.Context(), "k1", hash, run.run)
			if err != nil {
				t.Error(err)
				return
			}
			if replayed {
				replays.Add(1)
			}
			if !reflect.DeepEqual(resp, run.resp) {
				t.Errorf("response %+v, want %+v", resp, run.resp)
			}
		})
	}
	wg.Wait()
	if got := run.calls.Load(); got != 1 {
		t.Errorf("run called %d times, want 1", got)
	}
	if got := replays.Load(); got != n-1 {
		t.Errorf("%d replays, want %d", got, n-1)
	}
}

func TestOutcomesNotKeptAreNotReplayed(t *testing.T) {
	s, _, _ := newStore(t, time.Hour)
	run := &counter{keep: false, resp: Response{Status: 503, Body: []byte(`{}`)}}
	hash := RequestHash("POST", "/orders", "", nil)
	for range 2 {
		if _, replayed, err := s.Do(t.Context(), "k1", hash, run.run); err != nil || replayed {
			t.Fatalf("Do = replayed %v, %v", replayed, err)
		}
	}
	if got := run.calls.Load(); got != 2 {
		t.Errorf("run called %d times, want 2", got)
	}
}

func TestRecordsExpire(t *testing.T) {
	s, clk, pool := newStore(t, time.Hour)
	hash := RequestHash("POST", "/orders", "", nil)
	run := &counter{keep: true, resp: created(1)}
	if _, _, err := s.Do(t.Context(), "k1", hash, run.run); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Do(t.Context(), "k2", hash, run.run); err != nil {
		t.Fatal(err)
	}

	clk.Add(59 * time.Minute)
	if _, replayed, _ := s.Do(t.Context(), "k1", hash, run.run); !replayed {
		t.Error("not replayed before the TTL")
	}
	if n, err := s.DeleteExpired(t.Context()); err != nil || n != 0 {
		t.Errorf("DeleteExpired before the TTL = %d, %v; want 0", n, err)
	}

	clk.Add(2 * time.Minute)
	// An expired record is not replayed, even before the cleaner ran: the key is free again, for
	// another request too.
	run2 := &counter{keep: true, resp: created(2)}
	resp, replayed, err := s.Do(t.Context(), "k1", RequestHash("POST", "/other", "", nil), run2.run)
	if err != nil || replayed || resp.Status != 201 || string(resp.Body) != `{"n":2}` {
		t.Fatalf("Do after expiry = %+v, %v, %v", resp, replayed, err)
	}

	n, err := s.DeleteExpired(t.Context())
	if err != nil || n != 1 {
		t.Errorf("DeleteExpired = %d, %v; want 1 (k2; k1 was recorded again)", n, err)
	}
	var left []string
	rows, _ := pool.Query(t.Context(), "SELECT key FROM idempotency_keys ORDER BY key")
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		left = append(left, k)
	}
	if rows.Err() != nil || !reflect.DeepEqual(left, []string{"k1"}) {
		t.Errorf("keys left = %v, %v; want [k1]", left, rows.Err())
	}
}

func TestCleanerRunsUntilCancelled(t *testing.T) {
	s, clk, _ := newStore(t, time.Minute)
	hash := RequestHash("POST", "/orders", "", nil)
	for i := range 3 {
		if _, _, err := s.Do(t.Context(), fmt.Sprint("k", i), hash, (&counter{keep: true, resp: created(i)}).run); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Minute)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- NewCleaner(s, 10*time.Millisecond, slog.New(slog.DiscardHandler)).Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM idempotency_keys").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records left after 5s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestWaitForARunningRequestEndsWithCtx(t *testing.T) {
	s, _, _ := newStore(t, time.Hour)
	hash := RequestHash("POST", "/orders", "", nil)
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_, _, _ = s.Do(t.Context(), "k1", hash, func(context.Context) (Response, bool) {
			close(started)
			<-release
			return created(1), true
		})
	}()
	<-started
	defer close(release)

	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, _, err := s.Do(ctx, "k1", hash, (&counter{}).run)
	if !errors.Is(err, ErrInProgress) {
		t.Errorf("Do while the first runs = %v, want ErrInProgress", err)
	}
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), "postgres://x@127.0.0.1:1/x?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := New(pool, Options{Timeout: 2 * time.Second})
	_, _, err = s.Do(t.Context(), "k1", nil, (&counter{}).run)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Do = %v, want ErrUnavailable", err)
	}
}

// TestBriefOutageIsRetried: a database that refuses the first connections, as after a restart, costs
// a request a short wait rather than an error, up to beginAttempts tries.
func TestBriefOutageIsRetried(t *testing.T) {
	url := pgtest.NewDatabase(t)
	if err := migrations.Up(t.Context(), url, migrations.Commands()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		refused   int32 // connections refused before the database answers
		wantErr   error
		wantCalls int32
	}{
		{name: "up", refused: 0, wantCalls: 1},
		{name: "one connection refused", refused: 1, wantCalls: 1},
		{name: "all but the last refused", refused: beginAttempts - 1, wantCalls: 1},
		{name: "every attempt refused", refused: beginAttempts, wantErr: ErrUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := pgxpool.ParseConfig(url)
			if err != nil {
				t.Fatal(err)
			}
			var connects atomic.Int32
			cfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error {
				if connects.Add(1) <= tt.refused {
					return &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
				}
				return nil
			}
			pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			s := New(pool, Options{Timeout: 2 * time.Second})
			run := &counter{keep: true, resp: created(1)}
			_, _, err = s.Do(t.Context(), "k-"+tt.name, []byte("h"), run.run)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Do = %v, want %v", err, tt.wantErr)
			}
			if got := run.calls.Load(); got != tt.wantCalls {
				t.Errorf("run called %d times, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	for _, good := range []string{"a", "order-123_x", strings.Repeat("k", MaxKeyLength), "with space ~!"} {
		if err := CheckKey(good); err != nil {
			t.Errorf("CheckKey(%q) = %v", good, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("k", MaxKeyLength+1), "tab\there", "é", "nul\x00"} {
		if err := CheckKey(bad); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("CheckKey(%q) = %v, want ErrInvalidKey", bad, err)
		}
	}
}

func TestRequestHashSeparatesParts(t *testing.T) {
	a := RequestHash("POST", "/orders", "", []byte("x"))
	b := RequestHash("POST", "/ordersx", "", nil)
	c := RequestHash("POST", "/orders", "x", nil)
	if string(a) == string(b) || string(a) == string(c) || string(b) == string(c) {
		t.Error("different requests hash the same")
	}
	if string(a) != string(RequestHash("POST", "/orders", "", []byte("x"))) {
		t.Error("hash is not deterministic")
	}
}

func TestScoped(t *testing.T) {
	// Scopes and keys that would run together without the length prefix map to different strings.
	pairs := [][2]string{{"a", "b:c"}, {"a:b", "c"}, {"", "a:b:c"}, {"1:a", "b"}, {"alice", "k"}, {"bob", "k"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		s := Scoped(p[0], p[1])
		if other, dup := seen[s]; dup {
			t.Errorf("Scoped(%q, %q) = Scoped(%q, %q) = %q", p[0], p[1], other[0], other[1], s)
		}
		seen[s] = p
	}
	if got := Scoped("alice", "k"); got != "5:alice:k" {
		t.Errorf("Scoped(alice, k) = %q: the format is durable", got)
	}
	if long := Scoped(strings.Repeat("s", 128), strings.Repeat("k", MaxKeyLength)); len(long) > MaxScopedKeyLength {
		t.Errorf("the longest scoped key has %d characters, over MaxScopedKeyLength", len(long))
	}
}
