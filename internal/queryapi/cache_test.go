package queryapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// fakeSource serves orders at a settable version and position, counting loads. Loads block while
// gate is held, so that tests can pile requests onto one load.
type fakeSource struct {
	mu      sync.Mutex
	loads   int
	version uint64
	pos     eventstore.Position
	missing bool
	gate    sync.RWMutex
}

func (s *fakeSource) Order(_ context.Context, id uuid.UUID) (*readmodel.Order, eventstore.Position, error) {
	s.gate.RLock()
	defer s.gate.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if s.missing {
		return nil, s.pos, fmt.Errorf("order %s: %w", id, domain.ErrOrderNotFound)
	}
	return &readmodel.Order{OrderSummary: readmodel.OrderSummary{OrderID: id, Version: s.version}}, s.pos, nil
}

func (s *fakeSource) set(version uint64, commit uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version, s.pos = version, eventstore.Position{Commit: commit}
}

func (s *fakeSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func at(commit uint64) eventstore.Position { return eventstore.Position{Commit: commit} }

func TestOrderCache(t *testing.T) {
	ctx := t.Context()
	id := uuid.New()
	newCache := func(size int) (*orderCache, *fakeSource, *clock) {
		src, clk := &fakeSource{}, &clock{now: time.Unix(1_800_000_000, 0)}
		src.set(1, 10)
		return newOrderCache(src, time.Second, size, 1<<20, time.Second, clk.Now), src, clk
	}
	// get returns the version of the order it gets, by its ETag.
	get := func(t *testing.T, c *orderCache, min uint64) (string, eventstore.Position) {
		t.Helper()
		o, pos, err := c.get(ctx, id, at(min))
		if err != nil {
			t.Fatal(err)
		}
		return o.etag, pos
	}
	v := httpapi.ETag

	t.Run("serves from the cache until the jittered TTL", func(t *testing.T) {
		c, src, clk := newCache(10)
		get(t, c, 0)
		src.set(2, 11)
		clk.advance(999 * time.Millisecond)
		if got, _ := get(t, c, 0); got != v(1) || src.count() != 1 {
			t.Errorf("within the TTL: version %s after %d loads", got, src.count())
		}
		clk.advance(time.Second + time.Millisecond) // past the longest TTL: 2 s
		if got, _ := get(t, c, 0); got != v(2) || src.count() != 2 {
			t.Errorf("after the TTL: version %s after %d loads", got, src.count())
		}
	})

	t.Run("expiry is spread between TTL and twice that", func(t *testing.T) {
		c, _, clk := newCache(1000)
		base := clk.Now()
		for range 200 {
			c.put(uuid.New(), &encodedOrder{}, at(1))
		}
		low, high := 2*time.Second, time.Duration(0)
		for _, el := range c.entries {
			d := el.Value.(*cacheEntry).expires.Sub(base)
			low, high = min(low, d), max(high, d)
		}
		if low < time.Second || high > 2*time.Second || high-low < 500*time.Millisecond {
			t.Errorf("expiries from %v to %v, want spread over [1s, 2s]", low, high)
		}
	})

	t.Run("a later min position bypasses and refreshes the entry", func(t *testing.T) {
		c, src, _ := newCache(10)
		get(t, c, 0)
		src.set(2, 12)
		if got, pos := get(t, c, 12); got != v(2) || pos != at(12) || src.count() != 2 {
			t.Errorf("min 12: version %s at %v after %d loads", got, pos, src.count())
		}
		if got, _ := get(t, c, 11); got != v(2) || src.count() != 2 {
			t.Errorf("min 11 after the refresh: version %s after %d loads", got, src.count())
		}
	})

	t.Run("an older read does not replace a newer entry", func(t *testing.T) {
		c, _, _ := newCache(10)
		c.put(id, &encodedOrder{etag: v(5)}, at(20))
		c.put(id, &encodedOrder{etag: v(4)}, at(19))
		if got, pos := get(t, c, 0); got != v(5) || pos != at(20) {
			t.Errorf("version %s at %v, want 5 at 20", got, pos)
		}
	})

	t.Run("missing orders are not cached", func(t *testing.T) {
		c, src, _ := newCache(10)
		src.missing = true
		for range 2 {
			if _, pos, err := c.get(ctx, id, at(0)); !errors.Is(err, domain.ErrOrderNotFound) || pos != at(10) {
				t.Fatalf("missing order: %v at %v", err, pos)
			}
		}
		if src.count() != 2 {
			t.Errorf("%d loads for 2 reads of a missing order, want 2", src.count())
		}
	})

	t.Run("bounded: the least recently used goes", func(t *testing.T) {
		c, _, _ := newCache(3)
		ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New()}
		for _, k := range ids[:3] {
			c.put(k, &encodedOrder{}, at(1))
		}
		c.lookup(ids[0], at(0)) // used: ids[1] is now the least recently used
		c.put(ids[3], &encodedOrder{}, at(1))
		if len(c.entries) != 3 || c.lru.Len() != 3 {
			t.Fatalf("%d entries, want 3", len(c.entries))
		}
		if _, ok := c.entries[ids[1]]; ok {
			t.Error("the least recently used entry was kept")
		}
	})

	t.Run("bounded in bytes: the least recently used go, and an order too large is not kept", func(t *testing.T) {
		c, _, _ := newCache(1000)
		c.maxBytes = 8 * (1000 + entryOverhead) // room for 8 orders of a 1,000-byte body
		order := func(n int) *encodedOrder { return &encodedOrder{body: make([]byte, n)} }
		ids := make([]uuid.UUID, 10)
		for i := range ids {
			ids[i] = uuid.New()
			c.put(ids[i], order(1000), at(1))
		}
		if len(c.entries) != 8 || c.bytes != 8*(1000+entryOverhead) {
			t.Fatalf("%d entries of %d bytes, want the 8 that fit", len(c.entries), c.bytes)
		}
		if _, ok := c.entries[ids[1]]; ok {
			t.Error("an entry older than the 8 last was kept")
		}
		big := uuid.New()
		c.put(big, order(c.maxBytes/8), at(1))
		if _, ok := c.entries[big]; ok || len(c.entries) != 8 {
			t.Errorf("an order over an eighth of the bytes was cached (%d entries)", len(c.entries))
		}
		c.put(ids[9], order(10), at(2)) // replaced by a smaller read: the bytes follow
		if want := 7*(1000+entryOverhead) + 10 + entryOverhead; c.bytes != want {
			t.Errorf("%d bytes after a replacement, want %d", c.bytes, want)
		}
	})

	t.Run("expired entries at the back go before the cache is full", func(t *testing.T) {
		c, _, clk := newCache(100)
		for range 10 {
			c.put(uuid.New(), &encodedOrder{}, at(1))
		}
		clk.advance(2*time.Second + time.Millisecond) // all 10 expired
		fresh := uuid.New()
		c.put(fresh, &encodedOrder{}, at(1))
		if len(c.entries) != 1 || c.lru.Len() != 1 || c.entries[fresh] == nil {
			t.Errorf("%d entries after the others expired, want the fresh one alone", len(c.entries))
		}
	})

	t.Run("concurrent cold reads share one load", func(t *testing.T) {
		c, src, _ := newCache(10)
		src.gate.Lock()
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if _, _, err := c.get(ctx, id, at(0)); err != nil {
					t.Error(err)
				}
			})
		}
		time.Sleep(50 * time.Millisecond) // let them pile up on the held load
		src.gate.Unlock()
		wg.Wait()
		if src.count() != 1 {
			t.Errorf("%d loads, want 1", src.count())
		}
	})

	t.Run("a caller that gives up does not fail the shared load", func(t *testing.T) {
		c, src, _ := newCache(10)
		src.gate.Lock()
		impatient, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { _, _, err := c.get(impatient, id, at(0)); done <- err }()
		time.Sleep(20 * time.Millisecond)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("the impatient caller got %v", err)
		}
		src.gate.Unlock()
		if got, _ := get(t, c, 0); got != v(1) || src.count() > 2 {
			t.Errorf("version %s after %d loads", got, src.count())
		}
	})
}

// TestGetOrderFromCache: a hit answers byte for byte and header for header as the miss before it,
// both as echo's c.JSON wrote the order before the cache kept it encoded, and the hit still checks
// who is asking.
func TestGetOrderFromCache(t *testing.T) {
	e := newEnv(t)
	e.checkpoint(readmodel.ProjectionOrders, "40:2", false)
	created := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	id := e.insertOrder(orderRow{customer: "cust-7", status: "placed", total: 2900, version: 6, position: "39:1", createdAt: created, address: true})
	// Characters that c.JSON escapes, so that a different encoder would show.
	e.exec(`INSERT INTO rm_order_items (order_id, sku, name, quantity, unit_price_cents, line_no)
VALUES ($1, 'B', 'Beans <dark> & "roast"', 1, 400, 2), ($1, 'A', 'Alpha', 2, 1250, 1)`, id)
	path := "/orders/" + id.String()

	// What the handler wrote before: the order from the read model through c.JSON.
	order, _, err := readmodel.NewStore(e.pool, 5*time.Second).Order(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := echo.New().NewContext(httptest.NewRequest(http.MethodGet, path, nil), rec).JSON(http.StatusOK, order); err != nil {
		t.Fatal(err)
	}
	want := rec.Body.String()

	// read sends a GET as who and reports whether it reached the database.
	read := func(who *auth.Principal, headers ...string) (r response, queried bool) {
		t.Helper()
		before := e.queries.Load()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		req = req.WithContext(auth.WithPrincipal(req.Context(), who))
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, req)
		r = response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		r.header.Del(httpapi.HeaderCorrelationID) // one per request
		return r, e.queries.Load() != before
	}
	owner := &auth.Principal{Subject: "cust-7", Role: auth.Customer}
	other := &auth.Principal{Subject: "cust-8", Role: auth.Customer}

	miss, queried := read(owner)
	if !queried {
		t.Fatal("the first read sent no query: the cache was not cold")
	}
	hit, queried := read(owner)
	if queried {
		t.Fatal("the second read sent a query: it was not a hit")
	}
	for name, r := range map[string]response{"miss": miss, "hit": hit} {
		if r.status != http.StatusOK || string(r.body) != want {
			t.Errorf("%s: %d %s, want 200 %s", name, r.status, r.body, want)
		}
		if ct := r.header.Get("Content-Type"); ct != rec.Header().Get("Content-Type") {
			t.Errorf("%s: Content-Type %q, want %q", name, ct, rec.Header().Get("Content-Type"))
		}
	}
	if !maps.EqualFunc(hit.header, miss.header, slices.Equal) {
		t.Errorf("headers of the hit %v, of the miss %v", hit.header, miss.header)
	}
	if hit.header.Get("ETag") != `"6"` || hit.position() != "40:2" || hit.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("headers %v", hit.header)
	}

	if r, queried := read(owner, "If-None-Match", `W/"6"`); queried || r.status != http.StatusNotModified || len(r.body) != 0 ||
		r.header.Get("ETag") != `"6"` || r.position() != "40:2" {
		t.Errorf("If-None-Match on a hit: %d %q, headers %v, queried %t", r.status, r.body, r.header, queried)
	}
	if r, queried := read(other); queried || r.status != http.StatusForbidden {
		t.Errorf("another customer on a hit: %d %s, queried %t", r.status, r.body, queried)
	}
}
