package command

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/memory"
)

// readCountingStore counts stream reads.
type readCountingStore struct {
	*memory.Store
	reads atomic.Int32
}

func (r *readCountingStore) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	r.reads.Add(1)
	return r.Store.ReadStream(ctx, stream, from, limit)
}

func TestCachedOrderDecidesWithoutReading(t *testing.T) {
	for _, tt := range []struct {
		name      string
		cacheSize int
		wantReads int32
	}{
		{name: "cache on", cacheSize: 0, wantReads: 0}, // the create presumes a new order
		{name: "cache off", cacheSize: -1, wantReads: 4},
		{name: "cache of one order, two orders in turn", cacheSize: 1, wantReads: 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := &readCountingStore{Store: memory.New(nil)}
			s := newService(t, st, Options{CacheSize: tt.cacheSize})
			orders := 1
			if tt.cacheSize == 1 {
				orders = 2
			}
			ids := make([]uuid.UUID, orders)
			for i := range ids {
				ids[i] = mustCreate(t, s)
			}
			for _, sku := range []string{"A", "B", "A"} {
				for _, id := range ids {
					if _, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem(sku)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := st.reads.Load(); got != tt.wantReads {
				t.Errorf("%d stream reads, want %d", got, tt.wantReads)
			}
			if tt.cacheSize >= 0 {
				assertCacheMatchesStream(t, s, st, ids[len(ids)-1], true) // the last used
			}
		})
	}
}

// TestCreatePresumesANewOrder: with the cache, a create without an idempotency key or If-Match appends
// at version 0 without reading; an order that exists after all (created through another replica) is
// still refused, by the domain or by Authorize on the order as it is, with nothing written. A key
// reads first, to find a replay; so does If-Match, whose conflict would not read.
func TestCreatePresumesANewOrder(t *testing.T) {
	errForbidden := errors.New("not your order")
	othersOnly := func(o *domain.Order) error { // as the API's owner check: an order not there yet is anyone's
		if o.Version() > 0 {
			return errForbidden
		}
		return nil
	}
	for _, tt := range []struct {
		name      string
		exists    bool // the order was created through another replica
		key       string
		ifMatch   *uint64
		authorize func(*domain.Order) error
		cacheSize int
		wantErr   error
		wantReads int32
	}{
		{name: "new order", wantReads: 0},
		{name: "order exists", exists: true, wantErr: domain.ErrOrderExists, wantReads: 1},
		{name: "new order, with a key", key: "k-1", wantReads: 1},
		{name: "order exists, with a key", exists: true, key: "k-2", wantErr: domain.ErrOrderExists, wantReads: 1},
		{name: "new order, cache off", cacheSize: -1, wantReads: 1},
		{name: "new order, If-Match 0", ifMatch: ptr(uint64(0)), wantReads: 1},
		// The refusal is the owner check's, on the order as it is: not a failed precondition that
		// would tell the caller the order exists, and at which version.
		{name: "someone else's order, If-Match 0", exists: true, ifMatch: ptr(uint64(0)), authorize: othersOnly,
			wantErr: errForbidden, wantReads: 1},
		{name: "someone else's order", exists: true, authorize: othersOnly, wantErr: errForbidden, wantReads: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// given
			st := &readCountingStore{Store: memory.New(nil)}
			id := uuid.New()
			if tt.exists {
				if _, err := newService(t, st, Options{}).Execute(t.Context(), Request{OrderID: id, Command: create(id)}); err != nil {
					t.Fatal(err)
				}
			}
			before := len(readAll(t, st, id))
			st.reads.Store(0)
			s := newService(t, st, Options{CacheSize: tt.cacheSize})

			// when
			res, err := s.Execute(t.Context(), Request{OrderID: id, Command: create(id), IdempotencyKey: tt.key,
				IfMatch: tt.ifMatch, Authorize: tt.authorize})

			// then
			reads := st.reads.Load()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			want := before
			if tt.wantErr == nil {
				want++
				if !res.Created || res.Version != 1 {
					t.Errorf("result %+v, want the order created at version 1", res)
				}
			}
			if got := len(readAll(t, st, id)); got != want {
				t.Errorf("%d events in the stream, want %d", got, want)
			}
			if reads != tt.wantReads {
				t.Errorf("%d stream reads, want %d", reads, tt.wantReads)
			}
		})
	}
}

// TestBehindIsNotARace: a version conflict on an order decided as cached, or presumed new, reads and
// decides again at once, counted as an attempt; only a conflict after a read waits the backoff, which
// is for writers that race each other. Every wait is logged.
func TestBehindIsNotARace(t *testing.T) {
	add := func(uuid.UUID) domain.Command { return addItem("B") }
	for _, tt := range []struct {
		name      string
		cacheSize int
		mine      bool                                             // this replica created the order, and caches it
		given     func(t *testing.T, other *Service, id uuid.UUID) // through another replica, if set
		races     int32                                            // rivals' appends just before this replica's
		cmd       func(id uuid.UUID) domain.Command
		wantErr   error
		wantWaits int32
	}{
		{name: "cached order behind the stream", mine: true, given: addedElsewhere, cmd: add},
		{name: "presumed new order exists", given: createdElsewhere, cmd: func(id uuid.UUID) domain.Command { return create(id) },
			wantErr: domain.ErrOrderExists},
		{name: "cached order behind, then a race", mine: true, races: 2, cmd: add, wantWaits: 1},
		{name: "read order, a race", cacheSize: -1, mine: true, races: 1, cmd: add, wantWaits: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// given
			st := &racingStore{Store: memory.New(nil)}
			waits := &countingHandler{msg: "version conflict; deciding again"}
			s := newService(t, st, Options{CacheSize: tt.cacheSize, Logger: slog.New(waits)})
			id := uuid.New()
			if tt.mine {
				createdElsewhere(t, s, id)
			}
			if tt.given != nil {
				tt.given(t, newService(t, st, Options{}), id)
			}
			st.races.Store(tt.races)

			// when
			_, err := s.Execute(t.Context(), Request{OrderID: id, Command: tt.cmd(id)})

			// then
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if got := waits.n.Load(); got != tt.wantWaits {
				t.Errorf("%d waits between attempts, want %d", got, tt.wantWaits)
			}
		})
	}
}

// createdElsewhere creates order id through other.
func createdElsewhere(t *testing.T, other *Service, id uuid.UUID) {
	t.Helper()
	if _, err := other.Execute(t.Context(), Request{OrderID: id, Command: create(id)}); err != nil {
		t.Fatal(err)
	}
}

// addedElsewhere adds an item to order id through other.
func addedElsewhere(t *testing.T, other *Service, id uuid.UUID) {
	t.Helper()
	if _, err := other.Execute(t.Context(), Request{OrderID: id, Command: addItem("A")}); err != nil {
		t.Fatal(err)
	}
}

// countingHandler counts the log records with message msg.
type countingHandler struct {
	msg string
	n   atomic.Int32
}

func (*countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestStaleCachedOrder runs commands on replica a, whose cached order misses an event that replica b
// appended since: every answer is the one a fresh read would give.
func TestStaleCachedOrder(t *testing.T) {
	for _, tt := range []struct {
		name string
		// b runs these after a cached the order at version 2 (created, item A); none: b adds item B.
		b       []Request
		a       Request
		wantErr error
		// wantVersion is the order's version after a's command; wantTotal its total.
		wantVersion uint64
		wantTotal   int64
		// then, when set, is a's next command, answered with thenErr.
		then    *Request
		thenErr error
	}{
		{name: "a decision that needs b's event", a: Request{Command: domain.RemoveItem{SKU: "B"}},
			wantVersion: 4, wantTotal: 250},
		{name: "If-Match of the current version", a: Request{Command: addItem("C"), IfMatch: ptr(uint64(3))},
			wantVersion: 4, wantTotal: 750},
		{name: "If-Match of the cached version", a: Request{Command: addItem("C"), IfMatch: ptr(uint64(2))},
			wantErr: ErrPreconditionFailed, wantVersion: 3, wantTotal: 500},
		{name: "a command the order now refuses", b: []Request{{Command: domain.CancelOrder{Reason: "no"}}},
			a: Request{Command: addItem("C")}, wantErr: domain.ErrNotDraft, wantVersion: 3, wantTotal: 250},
		{name: "a repeat of b's command", b: []Request{{Command: addItem("B"), IdempotencyKey: "k1"}},
			a: Request{Command: addItem("B"), IdempotencyKey: "k1"}, wantVersion: 3, wantTotal: 500},
		// The store matches the repeat's event IDs before its expected version: deciding on the cached
		// order would meet the IDs at version 4 and fail as a duplicate.
		{name: "a repeat of b's command after another", b: []Request{{Command: addItem("B")}, {Command: addItem("C"), IdempotencyKey: "k1"}},
			a: Request{Command: addItem("C"), IdempotencyKey: "k1"}, wantVersion: 4, wantTotal: 750},
		// A key reused for another command answers with the first command's events, as without the
		// cache; what a cached next, without those events, would decide is not.
		{name: "a key reused for another command", b: []Request{{Command: domain.CancelOrder{Reason: "no"}, IdempotencyKey: "k1"}},
			a: Request{Command: addItem("X"), IdempotencyKey: "k1"}, wantVersion: 3, wantTotal: 250,
			then: &Request{Command: addItem("Y")}, thenErr: domain.ErrNotDraft},
		{name: "a command with nothing to catch up", b: []Request{{Command: addItem("B")}},
			a: Request{Command: addItem("B")}, wantVersion: 4, wantTotal: 750},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := &readCountingStore{Store: memory.New(nil)}
			a, b := newService(t, st, Options{}), newService(t, st, Options{})
			id := mustCreate(t, a)
			if _, err := a.Execute(t.Context(), Request{OrderID: id, Command: addItem("A")}); err != nil {
				t.Fatal(err)
			}
			breqs := tt.b
			if breqs == nil {
				breqs = []Request{{Command: addItem("B")}}
			}
			for _, breq := range breqs {
				breq.OrderID = id
				if _, err := b.Execute(t.Context(), breq); err != nil {
					t.Fatal(err)
				}
			}

			req := tt.a
			req.OrderID = id
			res, err := a.Execute(t.Context(), req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("a: %v, want %v", err, tt.wantErr)
			}
			order := domain.Rebuild(decodeAll(t, readAll(t, st, id)))
			if order.Version() != tt.wantVersion || int64(order.Total().Amount()) != tt.wantTotal {
				t.Errorf("order at version %d, total %d; want %d, %d", order.Version(), order.Total().Amount(),
					tt.wantVersion, tt.wantTotal)
			}
			if err == nil && res.Version != tt.wantVersion {
				t.Errorf("a answered version %d, want %d", res.Version, tt.wantVersion)
			}
			if tt.then != nil {
				then := *tt.then
				then.OrderID = id
				if _, err := a.Execute(t.Context(), then); !errors.Is(err, tt.thenErr) {
					t.Errorf("a's next command: %v, want %v", err, tt.thenErr)
				}
			}
			if _, cached := a.cache.peek(StreamName(id)); cached {
				assertCacheMatchesStream(t, a, st, id, false)
			}
		})
	}
}

// assertCacheMatchesStream checks that s's cached order is what the first events of its stream fold
// into, with each event's ID, version and position: all the events when whole is set (no other
// writer), else as many as it holds (a cached order may be stale).
func assertCacheMatchesStream(t *testing.T, s *Service, st eventstore.StreamReader, id uuid.UUID, whole bool) {
	t.Helper()
	c, ok := s.cache.peek(StreamName(id))
	if !ok {
		t.Errorf("order %s is not cached", id)
		return
	}
	events := readAll(t, st, id)
	if len(c.recorded) > len(events) || whole && len(c.recorded) != len(events) {
		t.Fatalf("%d events cached, %d in the stream", len(c.recorded), len(events))
	}
	events = events[:len(c.recorded)]
	want := domain.Rebuild(decodeAll(t, events))
	got := c.order
	if got.Version() != want.Version() || got.Status() != want.Status() || got.Total() != want.Total() ||
		got.ItemCount() != want.ItemCount() || len(got.Lines()) != len(want.Lines()) {
		t.Errorf("cached order v%d %s total %v, stream folds into v%d %s total %v", got.Version(), got.Status(),
			got.Total(), want.Version(), want.Status(), want.Total())
	}
	for i, e := range events {
		if r := c.recorded[i]; r.id != e.ID || r.version != e.Version || r.position != e.Position {
			t.Errorf("cached event %d: %+v, stream has %s v%d at %s", i, r, e.ID, e.Version, e.Position)
		}
	}
}

// peek returns stream's cached order, leaving it cached.
func (c *orderCache) peek(stream string) (cachedOrder, bool) {
	o, ok := c.take(stream)
	if ok {
		c.put(stream, o)
	}
	return o, ok
}

func decodeAll(t *testing.T, recs []eventstore.RecordedEvent) []domain.Event {
	t.Helper()
	var events []domain.Event
	for _, r := range recs {
		e, err := domain.UnmarshalEvent(r.Type, r.SchemaVersion, r.Data)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	return events
}
