package postgres

import (
	"context"
	"time"

	"github.com/orderflow/orderflow/eventstore"
)

// HoldGroupCommit occupies every free group-commit slot of s, so that appends queue until release
// is called; queued tells how many wait.
func HoldGroupCommit(s *Store) (queued func() int, release func()) {
	g := s.group
	// Once the slots are idle: a slot still writing an earlier batch would take the appends queued
	// meanwhile without waiting for release.
	g.mu.Lock()
	for g.running > 0 {
		g.mu.Unlock()
		time.Sleep(time.Millisecond)
		g.mu.Lock()
	}
	held := g.slots
	g.running = g.slots
	g.mu.Unlock()
	queued = func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.queue)
	}
	release = func() {
		for range held {
			g.release()
		}
	}
	return queued, release
}

// PageCap exposes pageCap.
var PageCap = pageCap

// ReadAllSQL exposes readAllSQL.
const ReadAllSQL = readAllSQL

// ReadAllCustomPlan is ReadAll as it was before genericPlan: the read alone, planned by the plan
// cache's auto mode. BenchmarkReadAll measures ReadAll against it.
func ReadAllCustomPlan(ctx context.Context, s *Store, from eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, readAllSQL, int64(from.Commit), int64(from.Prepare), limit)
	if err != nil {
		return nil, translate(err)
	}
	return scanEvents(rows, limit)
}

// GroupSQL exposes groupSQL.
const GroupSQL = groupSQL
