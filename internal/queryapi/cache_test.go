package queryapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
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
		return newOrderCache(src, time.Second, size, time.Second, clk.Now), src, clk
	}
	get := func(t *testing.T, c *orderCache, min uint64) (uint64, eventstore.Position) {
		t.Helper()
		o, pos, err := c.get(ctx, id, at(min))
		if err != nil {
			t.Fatal(err)
		}
		return o.Version, pos
	}

	t.Run("serves from the cache until the jittered TTL", func(t *testing.T) {
		c, src, clk := newCache(10)
		get(t, c, 0)
		src.set(2, 11)
		clk.advance(999 * time.Millisecond)
		if v, _ := get(t, c, 0); v != 1 || src.count() != 1 {
			t.Errorf("within the TTL: version %d after %d loads", v, src.count())
		}
		clk.advance(time.Second + time.Millisecond) // past the longest TTL: 2 s
		if v, _ := get(t, c, 0); v != 2 || src.count() != 2 {
			t.Errorf("after the TTL: version %d after %d loads", v, src.count())
		}
	})

	t.Run("expiry is spread between TTL and twice that", func(t *testing.T) {
		c, _, clk := newCache(1000)
		base := clk.Now()
		for range 200 {
			c.put(uuid.New(), &readmodel.Order{}, at(1))
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
		if v, pos := get(t, c, 12); v != 2 || pos != at(12) || src.count() != 2 {
			t.Errorf("min 12: version %d at %v after %d loads", v, pos, src.count())
		}
		if v, _ := get(t, c, 11); v != 2 || src.count() != 2 {
			t.Errorf("min 11 after the refresh: version %d after %d loads", v, src.count())
		}
	})

	t.Run("an older read does not replace a newer entry", func(t *testing.T) {
		c, _, _ := newCache(10)
		c.put(id, &readmodel.Order{OrderSummary: readmodel.OrderSummary{Version: 5}}, at(20))
		c.put(id, &readmodel.Order{OrderSummary: readmodel.OrderSummary{Version: 4}}, at(19))
		if v, pos := get(t, c, 0); v != 5 || pos != at(20) {
			t.Errorf("version %d at %v, want 5 at 20", v, pos)
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
			c.put(k, &readmodel.Order{}, at(1))
		}
		c.lookup(ids[0], at(0)) // used: ids[1] is now the least recently used
		c.put(ids[3], &readmodel.Order{}, at(1))
		if len(c.entries) != 3 || c.lru.Len() != 3 {
			t.Fatalf("%d entries, want 3", len(c.entries))
		}
		if _, ok := c.entries[ids[1]]; ok {
			t.Error("the least recently used entry was kept")
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
		if v, _ := get(t, c, 0); v != 1 || src.count() > 2 {
			t.Errorf("version %d after %d loads", v, src.count())
		}
	})
}
