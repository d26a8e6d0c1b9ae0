package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/memory"
	"github.com/orderflow/orderflow/internal/resilience"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newService(t *testing.T, st store, opts Options) *Service {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	if opts.RetryInitial == 0 {
		opts.RetryInitial, opts.RetryMax = time.Millisecond, 2*time.Millisecond
	}
	if opts.OutageInitial == 0 {
		opts.OutageInitial, opts.OutageMax = time.Millisecond, 2*time.Millisecond
	}
	return NewService(st, opts)
}

func create(id uuid.UUID) domain.CreateOrder {
	return domain.CreateOrder{OrderID: id, CustomerID: "cust-1", Currency: "EUR"}
}

func addItem(sku string) domain.AddItem {
	return domain.AddItem{SKU: domain.SKU(sku), Name: "Widget " + domain.ItemName(sku), Quantity: 1, UnitPrice: 250}
}

func ptr[T any](v T) *T { return &v }

// mustCreate creates an order and returns its ID.
func mustCreate(t *testing.T, s *Service) uuid.UUID {
	t.Helper()
	id := uuid.New()
	if _, err := s.Execute(t.Context(), Request{OrderID: id, Command: create(id)}); err != nil {
		t.Fatal(err)
	}
	return id
}

func readAll(t *testing.T, st eventstore.StreamReader, id uuid.UUID) []eventstore.RecordedEvent {
	t.Helper()
	events, err := st.ReadStream(t.Context(), StreamName(id), 1, 10_000)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func TestExecuteAppendsEventsWithMetadata(t *testing.T) {
	st := memory.New(nil)
	s := newService(t, st, Options{})
	id := uuid.New()
	md := eventstore.Metadata{CorrelationID: "corr-1", CausationID: "cause-1", Actor: "alice",
		TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState: "congo=t61rcWkgMzE"}

	res, err := s.Execute(t.Context(), Request{OrderID: id, Command: create(id), Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	if res.OrderID != id || res.Version != 1 || !res.Created || res.Position.IsZero() {
		t.Errorf("create result = %+v", res)
	}
	res, err = s.Execute(t.Context(), Request{OrderID: id, Command: addItem("A"), Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || res.Created {
		t.Errorf("add result = %+v", res)
	}

	events := readAll(t, st, id)
	if len(events) != 2 || events[0].Type != domain.EventOrderCreated || events[1].Type != domain.EventItemAdded {
		t.Fatalf("stream = %+v", events)
	}
	want := md
	want.Command = "AddItem"
	if events[1].Metadata != want {
		t.Errorf("metadata = %+v, want %+v", events[1].Metadata, want)
	}
	if events[1].Position != res.Position {
		t.Errorf("result position %s, event at %s", res.Position, events[1].Position)
	}
	e, err := domain.UnmarshalEvent(events[1].Type, events[1].SchemaVersion, events[1].Data)
	if err != nil {
		t.Fatal(err)
	}
	if at := e.(domain.ItemAdded).At; !at.Equal(testNow) {
		t.Errorf("event At = %s, want the injected clock's %s", at, testNow)
	}
}

func TestRejectedCommandWritesNothing(t *testing.T) {
	st := memory.New(nil)
	s := newService(t, st, Options{})
	id := mustCreate(t, s)

	tests := []struct {
		name    string
		req     Request
		wantErr error
	}{
		{"place an empty order", Request{OrderID: id, Command: domain.PlaceOrder{}}, domain.ErrNoItems},
		{"pay a draft", Request{OrderID: id, Command: domain.PayOrder{Amount: 1, PaymentReference: "p"}}, domain.ErrNotPlaced},
		{"create twice", Request{OrderID: id, Command: create(id)}, domain.ErrOrderExists},
		{"unknown order", Request{OrderID: uuid.New(), Command: addItem("A")}, domain.ErrOrderNotFound},
		{"no order id", Request{Command: addItem("A")}, domain.ErrInvalidOrderID},
		{"bad input", Request{OrderID: id, Command: domain.AddItem{SKU: "", Name: "x", Quantity: 1}}, domain.ErrInvalidSKU},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Execute(t.Context(), tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if got := len(readAll(t, st, id)); got != 1 {
				t.Errorf("stream has %d events, want only the OrderCreated", got)
			}
		})
	}
}

// racingStore appends a competing event to the stream right before each of the first `races` appends
// it passes on, as another replica would.
type racingStore struct {
	*memory.Store
	races    atomic.Int32
	appends  atomic.Int32
	competed atomic.Int32
}

func (r *racingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	r.appends.Add(1)
	if r.races.Add(-1) >= 0 {
		n := r.competed.Add(1)
		_, typ, data := mustMarshal(addItem(fmt.Sprintf("rival-%d", n)))
		if _, err := r.Store.Append(ctx, stream, eventstore.Any(), eventstore.EventData{
			ID: uuid.New(), Type: typ, SchemaVersion: 2, Data: data,
		}); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return r.Store.Append(ctx, stream, expected, events...)
}

func mustMarshal(cmd domain.AddItem) (domain.Event, string, []byte) {
	e := domain.ItemAdded{SKU: string(cmd.SKU), Name: string(cmd.Name), Quantity: int64(cmd.Quantity),
		UnitPriceCents: int64(cmd.UnitPrice), At: testNow}
	typ, _, data, err := domain.MarshalEvent(e)
	if err != nil {
		panic(err)
	}
	return e, typ, data
}

func TestConflictWithoutIfMatchIsRetried(t *testing.T) {
	st := &racingStore{Store: memory.New(nil)}
	s := newService(t, st, Options{MaxAttempts: 8})
	id := mustCreate(t, s)

	st.races.Store(3)
	st.appends.Store(0)
	res, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("mine")})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.appends.Load(); got != 4 {
		t.Errorf("%d appends, want 4: three lost races and a win", got)
	}
	events := readAll(t, st, id)
	if res.Version != 5 || len(events) != 5 {
		t.Fatalf("result version %d, stream of %d; want 5: created, three rivals, mine", res.Version, len(events))
	}
	if last := string(events[4].Data); !strings.Contains(last, `"sku":"mine"`) {
		t.Errorf("last event %s, want mine", last)
	}
}

func TestRetriesRunOut(t *testing.T) {
	st := &racingStore{Store: memory.New(nil)}
	s := newService(t, st, Options{MaxAttempts: 3})
	id := mustCreate(t, s)

	st.races.Store(1000)
	st.appends.Store(0)
	_, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("mine")})
	if !errors.Is(err, ErrConflict) || !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("error = %v, want ErrConflict", err)
	}
	if got := st.appends.Load(); got != 3 {
		t.Errorf("%d appends, want MaxAttempts = 3", got)
	}
	for _, e := range readAll(t, st, id) {
		if strings.Contains(string(e.Data), `"sku":"mine"`) {
			t.Error("the command's event was written")
		}
	}
}

func TestIfMatch(t *testing.T) {
	st := &racingStore{Store: memory.New(nil)}
	s := newService(t, st, Options{})
	id := mustCreate(t, s)

	t.Run("mismatch when read", func(t *testing.T) {
		st.appends.Store(0)
		_, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("A"), IfMatch: ptr[uint64](7)})
		var pe *PreconditionError
		if !errors.As(err, &pe) || !errors.Is(err, ErrPreconditionFailed) {
			t.Fatalf("error = %v, want a *PreconditionError", err)
		}
		if pe.Current != 1 || pe.Expected != 7 {
			t.Errorf("precondition error = %+v, want current 1, expected 7", pe)
		}
		if got := st.appends.Load(); got != 0 {
			t.Errorf("%d appends, want none: the check comes before deciding", got)
		}
	})

	t.Run("match", func(t *testing.T) {
		res, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("A"), IfMatch: ptr[uint64](1)})
		if err != nil || res.Version != 2 {
			t.Fatalf("result = %+v, %v; want version 2", res, err)
		}
	})

	t.Run("race lost at append is not retried", func(t *testing.T) {
		st.races.Store(1)
		st.appends.Store(0)
		_, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("B"), IfMatch: ptr[uint64](2)})
		var pe *PreconditionError
		if !errors.As(err, &pe) || pe.Current != 3 {
			t.Fatalf("error = %v, want a *PreconditionError with current version 3", err)
		}
		if got := st.appends.Load(); got != 1 {
			t.Errorf("%d appends, want 1", got)
		}
	})
}

func TestIdempotencyKeyDerivesEventIDs(t *testing.T) {
	st := memory.New(nil)
	s := newService(t, st, Options{})
	id := mustCreate(t, s)

	first, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("A"), IdempotencyKey: "key-1"})
	if err != nil {
		t.Fatal(err)
	}
	events := readAll(t, st, id)
	if got, want := events[1].ID, derivedEventID("key-1", id, 0); got != want {
		t.Errorf("event ID %s, want %s derived from the key", got, want)
	}

	// The same key again, as after a crash between appending and recording the response: no new
	// event, the first outcome, even with a clock that would decide differently.
	s.now = func() time.Time { return testNow.Add(time.Hour) }
	again, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("A"), IdempotencyKey: "key-1"})
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("repeat = %+v, want the first result %+v", again, first)
	}
	if got := len(readAll(t, st, id)); got != 2 {
		t.Errorf("stream has %d events after the repeat, want 2", got)
	}

	// Even after other commands, and with If-Match that no longer holds: the command was applied.
	if _, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("B")}); err != nil {
		t.Fatal(err)
	}
	again, err = s.Execute(t.Context(), Request{OrderID: id, Command: addItem("A"), IdempotencyKey: "key-1", IfMatch: ptr[uint64](1)})
	if err != nil || again != first {
		t.Errorf("late repeat = %+v, %v; want %+v", again, err, first)
	}

	// Another key is another command.
	if _, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("A"), IdempotencyKey: "key-2"}); err != nil {
		t.Fatal(err)
	}
	if got := len(readAll(t, st, id)); got != 4 {
		t.Errorf("stream has %d events, want 4", got)
	}
}

func TestCreateWithoutIDDerivesItFromTheKey(t *testing.T) {
	st := memory.New(nil)
	s := newService(t, st, Options{})
	req := Request{Command: domain.CreateOrder{CustomerID: "c", Currency: "EUR"}, IdempotencyKey: "create-1"}
	first, err := s.Execute(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if first.OrderID != derivedOrderID("create-1") || !first.Created {
		t.Fatalf("result = %+v, want the order ID derived from the key", first)
	}
	again, err := s.Execute(t.Context(), req)
	if err != nil || again != first {
		t.Fatalf("repeat = %+v, %v; want %+v", again, err, first)
	}
	if got := len(readAll(t, st, first.OrderID)); got != 1 {
		t.Errorf("stream has %d events, want 1", got)
	}

	// Without a key every create is a new order.
	a, errA := s.Execute(t.Context(), Request{Command: domain.CreateOrder{CustomerID: "c", Currency: "EUR"}})
	b, errB := s.Execute(t.Context(), Request{Command: domain.CreateOrder{CustomerID: "c", Currency: "EUR"}})
	if errA != nil || errB != nil || a.OrderID == b.OrderID || a.OrderID == uuid.Nil {
		t.Errorf("keyless creates = %v (%v), %v (%v); want two new orders", a.OrderID, errA, b.OrderID, errB)
	}
}

func TestDerivedIDsDependOnKeyOrderAndIndex(t *testing.T) {
	o1, o2 := uuid.New(), uuid.New()
	ids := map[uuid.UUID]string{}
	for _, c := range []struct {
		key   string
		order uuid.UUID
		i     int
	}{{"k", o1, 0}, {"k", o1, 1}, {"k", o2, 0}, {"k2", o1, 0}, {"k\x00", o1, 0}} {
		id := derivedEventID(c.key, c.order, c.i)
		if prev, dup := ids[id]; dup {
			t.Errorf("%q/%s/%d derives the same ID as %s", c.key, c.order, c.i, prev)
		}
		ids[id] = fmt.Sprintf("%q/%s/%d", c.key, c.order, c.i)
		if again := derivedEventID(c.key, c.order, c.i); again != id {
			t.Errorf("derivation is not deterministic: %s then %s", id, again)
		}
	}
}

// countingStore counts version conflicts.
type countingStore struct {
	*memory.Store
	conflicts atomic.Int32
}

func (c *countingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	res, err := c.Store.Append(ctx, stream, expected, events...)
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		c.conflicts.Add(1)
	}
	return res, err
}

func TestConcurrentCommandsOnOneOrderQueueInProcess(t *testing.T) {
	st := &countingStore{Store: memory.New(nil)}
	s := newService(t, st, Options{MaxAttempts: 1}) // no retries: any conflict would fail a command
	id := mustCreate(t, s)

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem(fmt.Sprintf("sku-%d", i))})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	events := readAll(t, st, id)
	if len(events) != n+1 {
		t.Errorf("stream has %d events, want %d", len(events), n+1)
	}
	for i, e := range events {
		if e.Version != uint64(i+1) {
			t.Fatalf("event %d has version %d", i, e.Version)
		}
	}
	if got := st.conflicts.Load(); got != 0 {
		t.Errorf("%d version conflicts, want none within one process", got)
	}
	if got := s.locks.size(); got != 0 {
		t.Errorf("%d locks left, want none", got)
	}
}

// unavailableStore fails every call as a store that cannot be reached.
type unavailableStore struct{ calls atomic.Int32 }

func (u *unavailableStore) Append(context.Context, string, eventstore.ExpectedVersion, ...eventstore.EventData) (eventstore.AppendResult, error) {
	u.calls.Add(1)
	return eventstore.AppendResult{}, eventstore.ErrUnavailable
}

func (u *unavailableStore) ReadStream(context.Context, string, uint64, int) ([]eventstore.RecordedEvent, error) {
	u.calls.Add(1)
	return nil, fmt.Errorf("read: %w", eventstore.ErrUnavailable)
}

func TestStoreOutageIsRetriedBriefly(t *testing.T) {
	st := &unavailableStore{}
	s := newService(t, st, Options{OutageAttempts: 3})
	_, err := s.Execute(t.Context(), Request{OrderID: uuid.New(), Command: addItem("A")})
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
	if got := st.calls.Load(); got != 3 {
		t.Errorf("%d store calls, want 3: one per attempt", got)
	}
}

// refusingStore is a store behind an open circuit breaker.
type refusingStore struct{ unavailableStore }

func (r *refusingStore) ReadStream(context.Context, string, uint64, int) ([]eventstore.RecordedEvent, error) {
	r.calls.Add(1)
	return nil, &resilience.OpenError{Wait: time.Second}
}

func TestOpenBreakerIsNotRetried(t *testing.T) {
	st := &refusingStore{}
	s := newService(t, st, Options{})
	_, err := s.Execute(t.Context(), Request{OrderID: uuid.New(), Command: addItem("A")})
	if !errors.Is(err, resilience.ErrCircuitOpen) {
		t.Fatalf("error = %v, want ErrCircuitOpen", err)
	}
	if got := st.calls.Load(); got != 1 {
		t.Errorf("%d store calls, want 1: the breaker says when to come back", got)
	}
}

func TestRejectionIsNotRetried(t *testing.T) {
	st := &lostAckStore{Store: memory.New(nil)}
	s := newService(t, st, Options{})
	id := mustCreate(t, s) // its acknowledgement is lost once, and the retry finds it
	_, err := s.Execute(t.Context(), Request{OrderID: id, Command: domain.PlaceOrder{}})
	if !errors.Is(err, domain.ErrNoItems) {
		t.Fatalf("error = %v, want ErrNoItems", err)
	}
	if events := readAll(t, st, id); len(events) != 1 {
		t.Errorf("%d events, want only the creation", len(events))
	}
}

// lostAckStore appends, then reports the first append as failed, as a connection lost between the
// commit and its acknowledgement would.
type lostAckStore struct {
	*memory.Store
	lost atomic.Bool
}

func (l *lostAckStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	res, err := l.Store.Append(ctx, stream, expected, events...)
	if err == nil && l.lost.CompareAndSwap(false, true) {
		return eventstore.AppendResult{}, fmt.Errorf("commit: %w", eventstore.ErrUnavailable)
	}
	return res, err
}

func TestLostAcknowledgementIsNotAppliedTwice(t *testing.T) {
	mem := memory.New(nil)
	s := newService(t, mem, Options{})
	id := mustCreate(t, s)
	st := &lostAckStore{Store: mem}
	s = newService(t, st, Options{})
	// No idempotency key: the retry still recognises the events of its own first try.
	res, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("A")})
	if err != nil {
		t.Fatal(err)
	}
	if events := readAll(t, mem, id); len(events) != 2 || res.Version != 2 {
		t.Errorf("%d events, result version %d; want the item added once, at version 2", len(events), res.Version)
	}
}

// slowStore blocks reads until its ctx ends, to see the store timeout at work.
type slowStore struct{ store } // Append is never reached

func (*slowStore) ReadStream(ctx context.Context, _ string, _ uint64, _ int) ([]eventstore.RecordedEvent, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestStoreCallsHaveADeadline(t *testing.T) {
	s := newService(t, &slowStore{}, Options{StoreTimeout: 20 * time.Millisecond})
	start := time.Now()
	_, err := s.Execute(context.Background(), Request{OrderID: uuid.New(), Command: addItem("A")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
}

// outageStore wraps a store: once cut, every append first does what write says and then fails with
// appendErr, and every read fails with readErr. With interloper, the first failed append lets another
// writer's event in first, as a concurrent command on another replica would.
type outageStore struct {
	*memory.Store
	cut        atomic.Bool
	write      bool // the append reaches the store before its error
	interloper bool
	appendErr  error
	readErr    error
}

func (o *outageStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if !o.cut.Load() {
		return o.Store.Append(ctx, stream, expected, events...)
	}
	if o.interloper {
		o.interloper = false
		typ, version, data, err := domain.MarshalEvent(domain.ItemAdded{SKU: "X", Name: "Widget X", Quantity: 1, UnitPriceCents: 250, At: testNow})
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if _, err := o.Store.Append(ctx, stream, expected, eventstore.EventData{
			ID: uuid.New(), Type: typ, SchemaVersion: version, Data: data}); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	if o.write {
		if _, err := o.Store.Append(ctx, stream, expected, events...); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return eventstore.AppendResult{}, o.appendErr
}

func (o *outageStore) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if o.cut.Load() && o.readErr != nil {
		return nil, o.readErr
	}
	return o.Store.ReadStream(ctx, stream, from, limit)
}

// TestUnknownOutcome: a command whose append the store neither confirmed nor refused, with no later
// attempt to settle it, fails with ErrOutcomeUnknown; one that failed before any append reached the
// store, or that a later attempt settled, does not.
func TestUnknownOutcome(t *testing.T) {
	unavailable := fmt.Errorf("append: %w", eventstore.ErrUnavailable)
	timeout := fmt.Errorf("append: %w", context.DeadlineExceeded)
	open := &resilience.OpenError{Wait: time.Second}
	notSent := fmt.Errorf("append: %w: %w", eventstore.ErrUnavailable, eventstore.ErrNotWritten)
	tests := []struct {
		name       string
		cached     bool // the order is in the cache: the first attempt appends without reading
		write      bool
		interloper bool
		ifMatch    *uint64
		appendErr  error
		readErr    error
		wantErr    error // nil: the command succeeds
		unknown    bool
		events     int // in the stream afterwards, the creation included
	}{
		{"timeout, reads fail too", true, true, false, nil, timeout, unavailable, eventstore.ErrUnavailable, true, 2},
		{"timeout, nothing written, reads fail too", true, false, false, nil, timeout, unavailable, eventstore.ErrUnavailable, true, 1},
		{"lost connection, then the breaker opens", true, false, false, nil, unavailable, open, resilience.ErrCircuitOpen, true, 1},
		{"reads fail before any append", false, false, false, nil, unavailable, unavailable, eventstore.ErrUnavailable, false, 1},
		{"breaker open on the append", true, false, false, nil, open, open, resilience.ErrCircuitOpen, false, 1},
		{"no connection for the append", true, false, false, nil, notSent, unavailable, eventstore.ErrUnavailable, false, 1},
		{"timeout, the retry reads the events", true, true, false, nil, timeout, nil, nil, false, 2},
		// The retry reads another writer's event at the version the lost append expected: that append
		// can no longer be written, whatever answer the command ends with.
		{"timeout, another writer first, If-Match fails", true, false, true, ptr(uint64(1)), timeout, nil, ErrPreconditionFailed, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &outageStore{Store: memory.New(nil), write: tt.write, appendErr: tt.appendErr, readErr: tt.readErr}
			opts := Options{OutageAttempts: 3}
			if !tt.cached {
				opts.CacheSize = -1
			}
			s := newService(t, st, opts)
			id := mustCreate(t, s)
			st.interloper = tt.interloper
			st.cut.Store(true)

			// when
			_, err := s.Execute(t.Context(), Request{OrderID: id, Command: addItem("A"), IfMatch: tt.ifMatch})

			// then
			if tt.wantErr == nil && err != nil {
				t.Fatalf("error = %v, want the retry to find the command's events", err)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrOutcomeUnknown); got != tt.unknown {
				t.Errorf("error = %v; ErrOutcomeUnknown %v, want %v", err, got, tt.unknown)
			}
			st.cut.Store(false)
			if got := len(readAll(t, st, id)); got != tt.events {
				t.Errorf("%d events, want %d", got, tt.events)
			}
		})
	}
}
