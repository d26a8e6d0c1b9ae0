package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/memory"
)

// flakyStore fails every call with err while err is set, and passes calls to a memory store otherwise.
type flakyStore struct {
	eventstore.Store
	mu    sync.Mutex
	err   error
	calls int
}

func (f *flakyStore) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *flakyStore) Head(ctx context.Context) (eventstore.Position, error) {
	f.mu.Lock()
	f.calls++
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return eventstore.Position{}, err
	}
	return f.Store.Head(ctx)
}

func (f *flakyStore) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func newFlaky() *flakyStore { return &flakyStore{Store: memory.New(nil)} }

var outage = fmt.Errorf("dial: %w", eventstore.ErrUnavailable)

func TestOpensAfterConsecutiveOutagesAndFailsFast(t *testing.T) {
	store := newFlaky()
	b := NewBreaker(store, Settings{Failures: 3, OpenFor: time.Minute})
	store.fail(outage)
	for i := range 3 {
		if _, err := b.Head(t.Context()); !errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d: error = %v, want the store's own outage", i, err)
		}
	}
	if got := b.State(); got != "open" {
		t.Fatalf("state after 3 outages = %s, want open", got)
	}

	_, err := b.Head(t.Context())
	var open *OpenError
	if !errors.As(err, &open) || !errors.Is(err, ErrCircuitOpen) || !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("error while open = %v, want an *OpenError matching ErrCircuitOpen and ErrUnavailable", err)
	}
	if open.RetryAfter() <= 59*time.Second || open.RetryAfter() > time.Minute {
		t.Errorf("RetryAfter = %s, want just under the 1m open period", open.RetryAfter())
	}
	if got := store.callCount(); got != 3 {
		t.Errorf("store called %d times, want 3: an open breaker must not call it", got)
	}
}

func TestDeadlinesCountAsOutages(t *testing.T) {
	store := newFlaky()
	b := NewBreaker(store, Settings{Failures: 2, OpenFor: time.Minute})
	store.fail(context.DeadlineExceeded)
	for range 2 {
		_, _ = b.Head(t.Context())
	}
	if got := b.State(); got != "open" {
		t.Errorf("state after 2 deadlines = %s, want open", got)
	}
}

func TestOtherErrorsDoNotCount(t *testing.T) {
	for _, err := range []error{
		&eventstore.VersionConflictError{Stream: "s", Expected: eventstore.NoStream(), Actual: 3},
		eventstore.ErrStreamNotFound,
		eventstore.ErrInvalidEvent,
		context.Canceled,
		errors.New("some bug"),
	} {
		store := newFlaky()
		b := NewBreaker(store, Settings{Failures: 2, OpenFor: time.Minute})
		store.fail(err)
		for range 10 {
			if _, got := b.Head(t.Context()); !errors.Is(got, err) {
				t.Fatalf("error = %v, want %v passed through", got, err)
			}
		}
		if got := b.State(); got != "closed" {
			t.Errorf("state after 10 × %v = %s, want closed", err, got)
		}
	}
}

func TestASuccessResetsTheCount(t *testing.T) {
	store := newFlaky()
	b := NewBreaker(store, Settings{Failures: 3, OpenFor: time.Minute})
	for range 5 {
		store.fail(outage)
		_, _ = b.Head(t.Context())
		_, _ = b.Head(t.Context())
		store.fail(nil)
		if _, err := b.Head(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.State(); got != "closed" {
		t.Errorf("state = %s, want closed: failures were never 3 in a row", got)
	}
}

func TestHalfOpenRecoversOrReopens(t *testing.T) {
	const openFor = 50 * time.Millisecond
	store := newFlaky()
	b := NewBreaker(store, Settings{Failures: 1, OpenFor: openFor})

	store.fail(outage)
	_, _ = b.Head(t.Context())
	if got := b.State(); got != "open" {
		t.Fatalf("state = %s, want open", got)
	}

	// The trial call fails: open again, for a whole new period.
	time.Sleep(openFor + 20*time.Millisecond)
	if got := b.State(); got != "half-open" {
		t.Fatalf("state after the open period = %s, want half-open", got)
	}
	if _, err := b.Head(t.Context()); errors.Is(err, ErrCircuitOpen) || !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("trial call error = %v, want the store's outage", err)
	}
	if got := b.State(); got != "open" {
		t.Fatalf("state after a failed trial = %s, want open", got)
	}

	// The store is back: the next trial closes the breaker.
	store.fail(nil)
	time.Sleep(openFor + 20*time.Millisecond)
	if _, err := b.Head(t.Context()); err != nil {
		t.Fatalf("trial call: %v", err)
	}
	if got := b.State(); got != "closed" {
		t.Errorf("state after a good trial = %s, want closed", got)
	}
}

func TestAllMethodsGoThroughTheBreaker(t *testing.T) {
	store := newFlaky()
	b := NewBreaker(store, Settings{Failures: 1, OpenFor: time.Minute})
	store.fail(outage)
	_, _ = b.Head(t.Context())

	ctx := t.Context()
	_, errAppend := b.Append(ctx, "s", eventstore.Any())
	_, errRead := b.ReadStream(ctx, "s", 1, 10)
	_, errAll := b.ReadAll(ctx, eventstore.Position{}, 10)
	for name, err := range map[string]error{"Append": errAppend, "ReadStream": errRead, "ReadAll": errAll} {
		if !errors.Is(err, ErrCircuitOpen) {
			t.Errorf("%s while open: %v, want ErrCircuitOpen", name, err)
		}
	}
}
