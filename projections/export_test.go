package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/eventstore"
)

// CopyFrom is copyFrom, for the tests that must reach the COPY paths.
const CopyFrom = copyFrom

// ErrFenced is errFenced, for the tests of the fence.
var ErrFenced = errFenced

// CommitBatch applies events, which follow from, to p and moves p's checkpoint in one transaction, as
// p's owner does with each batch.
func CommitBatch(ctx context.Context, cfg Config, p Projection, from eventstore.Position, events []eventstore.RecordedEvent) error {
	commit, err := BatchCommitter(cfg, p)
	if err != nil {
		return err
	}
	return commit(ctx, from, events)
}

// BatchCommitter returns CommitBatch for p, with one worker for all its calls, which apply batches to
// the generation p's checkpoint has now.
func BatchCommitter(cfg Config, p Projection) (func(ctx context.Context, from eventstore.Position, events []eventstore.RecordedEvent) error, error) {
	w, err := testWorker(cfg, p)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := cfg.DB.QueryRow(ctx, `SELECT generation FROM projection_checkpoints WHERE name = $1`, w.name).Scan(&w.gen); err != nil {
		return nil, fmt.Errorf("read the checkpoint's generation: %w", err)
	}
	return func(ctx context.Context, from eventstore.Position, events []eventstore.RecordedEvent) error {
		return w.commit(ctx, from, events, progress{state: StateRunning, head: events[len(events)-1].Position})
	}, nil
}

// ApplyIn applies events to p in tx, as a rebuild's batch does, without moving a checkpoint.
func ApplyIn(ctx context.Context, tx pgx.Tx, p Projection, events []eventstore.RecordedEvent) error {
	var w Writes
	if err := p.Apply(ctx, tx, events, &w); err != nil {
		return err
	}
	return w.runIn(ctx, tx)
}

// Step reads the batch after from and applies it to p, as p's owner does, and returns the number of
// events applied.
func Step(ctx context.Context, cfg Config, p Projection, from eventstore.Position) (int, error) {
	w, err := testWorker(cfg, p)
	if err != nil {
		return 0, err
	}
	_, n, _, err := w.step(ctx, from)
	return n, err
}

// testWorker is a worker of p outside a runner.
func testWorker(cfg Config, p Projection) (*worker, error) {
	cfg = cfg.withDefaults()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	cfg.Metrics = m
	return newWorker(p, &cfg, nil), nil
}

// LogWindow is the runner's shared reader of the log.
type LogWindow = logWindow

// NewLogWindow returns a window of store keeping keep events, reading for its callers until ctx
// ends.
func NewLogWindow(ctx context.Context, store eventstore.LogReader, keep int) (*LogWindow, error) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	l := newLogWindow(store, keep, time.Minute, m)
	go l.run(ctx)
	return l, nil
}

// AsyncCommit is asyncCommit, for the test that every batch commits asynchronously.
const AsyncCommit = asyncCommit
