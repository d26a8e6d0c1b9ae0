package projections

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/orderflow/orderflow/eventstore"
)

// logWindow lets the projections of a runner share their reads of the log. Projections that keep
// up with the log stand at the same positions or close to them, and each read the log for itself:
// every event cost a read per projection, and so did every wake-up that found nothing. logWindow
// keeps the events read last (the window) and answers a read after a position inside it from
// memory. A read at its end goes to the store once for every projection that asks meanwhile: one
// read runs at a time, and those who ask while it runs share the next.
//
// Sharing is correct for any eventstore.LogReader, because of what ReadAll promises: the events
// after a position, as one read returns them, are a prefix of what any later read returns. So an
// earlier read's events are never wrong, only perhaps fewer than are visible now, and a projection
// at the end of the window is only answered by a read that began after it asked: one that finds
// nothing tells it exactly what a read of its own would have.
//
// Projections outside the window (behind it, as while catching up, or ahead of it) read the store
// themselves. The events handed out are shared by the projections: read-only.
type logWindow struct {
	store   eventstore.LogReader
	keep    int           // events kept: from keep to twice that once the window is full
	timeout time.Duration // of each read of the store
	m       *Metrics

	mu      sync.Mutex
	from    eventstore.Position        // the window holds the events after from (at first the start of the log),
	events  []eventstore.RecordedEvent // in log order
	atHead  bool                       // the last read found fewer events than it asked for
	pending *windowRead                // the next read of the end, which callers join
	kick    chan struct{}              // a read is pending
}

// windowRead is one read of the window's end, shared by the projections that wait for it.
type windowRead struct {
	max  int // the most events any of them asked for
	done chan struct{}
	err  error
}

func newLogWindow(store eventstore.LogReader, keep int, timeout time.Duration, m *Metrics) *logWindow {
	return &logWindow{store: store, keep: keep, timeout: timeout, m: m, kick: make(chan struct{}, 1)}
}

// ReadAll returns up to limit events after from, like eventstore.LogReader.ReadAll.
func (l *logWindow) ReadAll(ctx context.Context, from eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	l.m.logRequests.Inc()
	l.mu.Lock()
	events, inside := l.after(from)
	if !inside && from.Compare(l.end()) > 0 {
		// Ahead of the window, which the projections have left behind (the one that placed it
		// stopped, say): it moves to the front, where the others will come too. It never moves back,
		// so that projections at two places cannot take it from each other in turn.
		l.from, l.events, l.atHead = from, nil, false
		events, inside = nil, true
	}
	switch {
	case !inside:
		l.mu.Unlock()
		l.m.logReads.Inc()
		return l.store.ReadAll(ctx, from, limit)
	case len(events) >= limit || len(events) > 0 && l.atHead:
		// The whole batch is here, or all there was when the end was last read: what is newer
		// comes with a wake-up, as for a read of the store.
		l.mu.Unlock()
		return clip(events, limit), nil
	}
	// At the end of the window, or near it with the log going on past it: read the end.
	r := l.pending
	if r == nil {
		r = &windowRead{done: make(chan struct{})}
		l.pending = r
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	r.max = max(r.max, limit)
	l.mu.Unlock()

	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, r.err
	}
	l.mu.Lock()
	events, inside = l.after(from)
	l.mu.Unlock()
	if !inside { // the window moved past from meanwhile
		l.m.logReads.Inc()
		return l.store.ReadAll(ctx, from, limit)
	}
	return clip(events, limit), nil
}

// Head implements eventstore.LogReader: the store's.
func (l *logWindow) Head(ctx context.Context) (eventstore.Position, error) { return l.store.Head(ctx) }

// end is the position of the window's last event, or its start when empty. l.mu is held.
func (l *logWindow) end() eventstore.Position {
	if n := len(l.events); n > 0 {
		return l.events[n-1].Position
	}
	return l.from
}

// after returns the window's events after pos, and whether pos is in the window: its start, or the
// position of one of its events. l.mu is held.
func (l *logWindow) after(pos eventstore.Position) ([]eventstore.RecordedEvent, bool) {
	if pos == l.from {
		return l.events, true
	}
	i, found := slices.BinarySearchFunc(l.events, pos, func(e eventstore.RecordedEvent, p eventstore.Position) int {
		return e.Position.Compare(p)
	})
	if !found {
		return nil, false
	}
	return l.events[i+1:], true
}

// run reads the end of the window for whoever waits, one read at a time, until ctx ends.
func (l *logWindow) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			if r := l.pending; r != nil {
				l.pending = nil
				r.err = ctx.Err()
				close(r.done)
			}
			l.mu.Unlock()
			return
		case <-l.kick:
		}
		l.mu.Lock()
		r, end := l.pending, l.end()
		l.pending = nil // those who ask from now on wait for the next read
		l.mu.Unlock()
		if r == nil {
			continue
		}
		l.m.logReads.Inc()
		readCtx, cancel := context.WithTimeout(ctx, l.timeout)
		events, err := l.store.ReadAll(readCtx, end, r.max)
		cancel()
		l.mu.Lock()
		if err == nil && l.end() == end { // not moved to the front meanwhile
			l.extend(events, r.max)
		}
		l.mu.Unlock()
		r.err = err
		close(r.done)
	}
}

// extend appends what a read of the end found. Past twice keep events, it keeps the last keep: in
// a new array, since the events handed out keep the old one, which must not change under them.
// Trimming at every read instead copied the whole window for each event at light load (measured:
// more of the projector's CPU than the reads saved). l.mu is held.
func (l *logWindow) extend(events []eventstore.RecordedEvent, asked int) {
	l.atHead = len(events) < asked
	if len(events) == 0 {
		return
	}
	all := append(l.events, events...)
	if len(all) > 2*l.keep {
		drop := len(all) - l.keep
		l.from = all[drop-1].Position
		all = slices.Clone(all[drop:])
	}
	l.events = all
}

// clip returns the first limit events at most, as a slice that cannot grow into the window.
func clip(events []eventstore.RecordedEvent, limit int) []eventstore.RecordedEvent {
	n := min(len(events), limit)
	return events[:n:n]
}
