package projections

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/eventstore"
)

// CopyFrom is copyFrom, for the tests that must reach the COPY paths.
const CopyFrom = copyFrom

// ErrFenced is errFenced, for the test of the fence.
var ErrFenced = errFenced

// CommitBatch applies events, which follow from, to p and moves p's checkpoint in one transaction, as
// p's owner does with each batch.
func CommitBatch(ctx context.Context, cfg Config, p Projection, from eventstore.Position, events []eventstore.RecordedEvent) error {
	cfg = cfg.withDefaults()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	cfg.Metrics = m
	w := newWorker(p, &cfg, nil)
	return w.commit(ctx, from, events, progress{state: StateRunning, head: events[len(events)-1].Position})
}
