package projections_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/memory"
	"github.com/orderflow/orderflow/projections"
)

// heldLog is a log that counts its reads and can hold the next one: that read takes its events at
// once, as a read's snapshot is taken when it starts, and returns them only when released.
type heldLog struct {
	*memory.Store
	reads    atomic.Int64
	holdNext atomic.Bool
	held     chan struct{} // the held read has its events
	release  chan struct{}
}

func newHeldLog() *heldLog {
	return &heldLog{Store: memory.New(nil), held: make(chan struct{}), release: make(chan struct{})}
}

func (l *heldLog) ReadAll(ctx context.Context, from eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	l.reads.Add(1)
	events, err := l.Store.ReadAll(ctx, from, limit)
	if l.holdNext.CompareAndSwap(true, false) {
		close(l.held)
		<-l.release
	}
	return events, err
}

// add appends n events to one stream each and returns their positions.
func (l *heldLog) add(t *testing.T, n int) []eventstore.Position {
	t.Helper()
	var out []eventstore.Position
	for range n {
		res, err := l.Append(t.Context(), "s-"+uuid.NewString(), eventstore.NoStream(),
			eventstore.EventData{ID: uuid.New(), Type: "T", SchemaVersion: 1, Data: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Position)
	}
	return out
}

func window(t *testing.T, log eventstore.LogReader, keep int) *projections.LogWindow {
	t.Helper()
	w, err := projections.NewLogWindow(t.Context(), log, keep)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// read reads through w and returns the positions of the events.
func read(t *testing.T, w *projections.LogWindow, from eventstore.Position, limit int) []eventstore.Position {
	t.Helper()
	events, err := w.ReadAll(timeout(t, 5*time.Second), from, limit)
	if err != nil {
		t.Fatal(err)
	}
	var out []eventstore.Position
	for _, e := range events {
		out = append(out, e.Position)
	}
	return out
}

func samePositions(t *testing.T, what string, got, want []eventstore.Position) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// TestLogWindowShares: projections that ask at once share one read, and one inside the window is
// answered from memory.
func TestLogWindowShares(t *testing.T) {
	log := newHeldLog()
	pos := log.add(t, 3)
	w := window(t, log, 100)

	log.holdNext.Store(true)
	var wg sync.WaitGroup
	results := make([][]eventstore.Position, 4)
	wg.Go(func() { results[0] = read(t, w, eventstore.Position{}, 10) })
	<-log.held
	for i := 1; i < len(results); i++ {
		wg.Go(func() { results[i] = read(t, w, eventstore.Position{}, 10) })
	}
	time.Sleep(20 * time.Millisecond) // the others ask while the first read runs
	close(log.release)
	wg.Wait()
	for i, got := range results {
		samePositions(t, fmt.Sprintf("reader %d", i), got, pos)
	}
	if n := log.reads.Load(); n > 2 {
		t.Fatalf("%d reads of the store for 4 readers at one position, want the first and at most one shared", n)
	}

	before := log.reads.Load()
	samePositions(t, "inside the window", read(t, w, pos[0], 10), pos[1:])
	samePositions(t, "limited", read(t, w, eventstore.Position{}, 2), pos[:2])
	if n := log.reads.Load() - before; n != 0 {
		t.Fatalf("%d reads of the store for events the window holds", n)
	}
}

// TestLogWindowFreshness: a projection at the end of the window is never answered by a read that
// began before it asked: it sees what a read of its own would.
func TestLogWindowFreshness(t *testing.T) {
	log := newHeldLog()
	w := window(t, log, 100)

	log.holdNext.Store(true)
	first := make(chan []eventstore.Position)
	go func() { first <- read(t, w, eventstore.Position{}, 10) }()
	<-log.held // that read found the log empty
	pos := log.add(t, 1)
	second := make(chan []eventstore.Position)
	go func() { second <- read(t, w, eventstore.Position{}, 10) }()
	time.Sleep(20 * time.Millisecond) // it asks while the first read runs
	close(log.release)
	samePositions(t, "the reader who asked after the append", <-second, pos)
	if got := <-first; len(got) > 1 {
		t.Fatalf("the first reader got %v", got) // nothing, or the event if the second read was quicker
	}
}

// TestLogWindowMoves: the window keeps the latest events, between its size and twice that;
// readers behind it read the store, and one ahead of it takes it along. The events handed out never
// change.
func TestLogWindowMoves(t *testing.T) {
	log := newHeldLog()
	pos := log.add(t, 7)
	w := window(t, log, 2)

	first := read(t, w, eventstore.Position{}, 2)
	samePositions(t, "the first batch", first, pos[:2])
	samePositions(t, "the second batch", read(t, w, pos[1], 2), pos[2:4]) // the window holds 1 to 4
	samePositions(t, "the third batch", read(t, w, pos[3], 2), pos[4:6])  // 5 and 6: the last 2
	before := log.reads.Load()
	samePositions(t, "behind the window", read(t, w, pos[1], 2), pos[2:4])
	if log.reads.Load() == before {
		t.Fatal("a reader behind the window was answered from memory")
	}
	samePositions(t, "the first batch, handed out before", first, pos[:2])

	// Ahead of the window: it moves there, and the reader left behind reads the store.
	samePositions(t, "ahead of the window", read(t, w, pos[6], 2), nil)
	more := log.add(t, 1)
	samePositions(t, "at the moved window", read(t, w, pos[6], 2), more)
	before = log.reads.Load()
	samePositions(t, "left behind", read(t, w, pos[5], 2), []eventstore.Position{pos[6], more[0]})
	if log.reads.Load() == before {
		t.Fatal("a reader behind the moved window was answered from memory")
	}
}
