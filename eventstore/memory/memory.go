// Package memory is an in-process event store for fast tests of the code
// above the store. It keeps the whole contract of eventstore.Store, checked
// by the same conformance suite as the real backends, but nothing survives
// the process.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
)

// Store is an in-memory eventstore.Store. The zero value is not usable;
// call New.
type Store struct {
	now func() time.Time

	mu      sync.RWMutex
	log     []eventstore.RecordedEvent // global log; Position.Commit is index+1
	streams map[string][]int           // stream -> indexes into log
	byID    map[uuid.UUID]int          // event ID -> index into log
}

// New returns an empty store. now stamps RecordedAt; nil means time.Now.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, streams: map[string][]int{}, byID: map[uuid.UUID]int{}}
}

var _ eventstore.Store = (*Store)(nil)

// Append implements eventstore.Appender.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.Validate(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	current := uint64(len(s.streams[stream]))
	if res, ok, err := s.replayed(stream, expected, events); ok || err != nil {
		return res, err
	}
	if !expected.Allows(current) {
		return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: current}
	}
	now := s.now().UTC()
	for i, e := range events {
		idx := len(s.log)
		s.log = append(s.log, eventstore.RecordedEvent{
			ID:            e.ID,
			StreamID:      stream,
			Version:       current + uint64(i) + 1,
			Type:          e.Type,
			SchemaVersion: e.SchemaVersion,
			Data:          slices.Clone(e.Data),
			Metadata:      e.Metadata,
			RecordedAt:    now,
			Position:      eventstore.Position{Commit: uint64(idx) + 1},
		})
		s.streams[stream] = append(s.streams[stream], idx)
		s.byID[e.ID] = idx
	}
	last := s.log[len(s.log)-1]
	return eventstore.AppendResult{Version: last.Version, Position: last.Position}, nil
}

// replayed reports whether events were already appended to stream, right
// after expected, by an earlier call: then the append is a retry and
// succeeds with the original result. Event IDs used in any other way are
// ErrDuplicateEventID.
func (s *Store) replayed(stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, bool, error) {
	first, found := s.byID[events[0].ID]
	if !found {
		for _, e := range events[1:] {
			if _, dup := s.byID[e.ID]; dup {
				return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: event %s: %w", stream, e.ID, eventstore.ErrDuplicateEventID)
			}
		}
		return eventstore.AppendResult{}, false, nil
	}
	rec := s.log[first]
	ok := rec.StreamID == stream && expected.Allows(rec.Version-1)
	for i, e := range events {
		idx, found := s.byID[e.ID]
		ok = ok && found && s.log[idx].StreamID == stream && s.log[idx].Version == rec.Version+uint64(i)
	}
	if !ok {
		return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: event %s: %w", stream, rec.ID, eventstore.ErrDuplicateEventID)
	}
	last := s.log[s.byID[events[len(events)-1].ID]]
	return eventstore.AppendResult{Version: last.Version, Position: last.Position}, true, nil
}

// ReadStream implements eventstore.StreamReader.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	idxs, ok := s.streams[stream]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", stream, eventstore.ErrStreamNotFound)
	}
	start := max(from, 1) - 1
	var out []eventstore.RecordedEvent
	for _, idx := range idxs[min(start, uint64(len(idxs))):] {
		if len(out) == limit {
			break
		}
		out = append(out, s.copyOf(idx))
	}
	return out, nil
}

// ReadAll implements eventstore.LogReader.
func (s *Store) ReadAll(ctx context.Context, from eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// Positions are index+1 with Prepare 0, so "strictly after from" starts
	// at index from.Commit, or one further if from points between events.
	start := from.Commit
	if from.Prepare > 0 {
		start++
	}
	var out []eventstore.RecordedEvent
	for idx := start; idx < uint64(len(s.log)) && len(out) < limit; idx++ {
		out = append(out, s.copyOf(int(idx)))
	}
	return out, nil
}

// Head implements eventstore.LogReader.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.log) == 0 {
		return eventstore.Position{}, nil
	}
	return s.log[len(s.log)-1].Position, nil
}

// copyOf hands out a copy so callers cannot change what the store holds.
func (s *Store) copyOf(idx int) eventstore.RecordedEvent {
	e := s.log[idx]
	e.Data = slices.Clone(e.Data)
	return e
}
