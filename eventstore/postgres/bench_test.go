package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/postgres"
)

// BenchmarkAppend measures single-event appends to distinct streams at
// several client counts, next to the baseline the store cannot beat: the
// same server inserting one event-shaped row per transaction, with the same
// unique (stream, version) constraint, through the same pool. The ratio is
// the store's cost over a bare insert.
//
// Two more rows explain the ratio: insert-event-row is a bare insert into a
// copy of the events table (its three unique indexes: log order, stream
// version, event ID), the part of the gap that is the schema's; and
// append-ungrouped is the store without group commit.
//
//	make test ARGS='-run=^$ -bench=Append -benchtime=5s ./eventstore/postgres/'
//
// make test builds with the race detector, which slows the Go side of an append several times more
// than the baseline's: for figures, run go test without -race against TEST_DATABASE_URL, or make
// bench, which measures the same next to pgbench.
func BenchmarkAppend(b *testing.B) {
	s, pool := newStore(b)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE baseline (
		stream_id text NOT NULL, version bigint NOT NULL, data jsonb NOT NULL,
		UNIQUE (stream_id, version))`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE event_rows (LIKE events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	meta := `{"correlation_id":"c","actor":"bench","command":"AddItem"}`
	data := []byte(`{"sku":"SKU-123456","name":"Espresso beans, 1 kg, dark roast, whole","quantity":3,"unit_price_cents":1999,"at":"2026-11-23T10:00:00.123456Z","note":"padding to the size of a typical order event payload, about three hundred bytes in all, like the baseline of issue 7"}`)
	// Seed so that the planner sees a realistic table, not an empty one.
	for i := range 2000 {
		if _, err := s.Append(ctx, fmt.Sprintf("seed-%d", i), eventstore.NoStream(), eventstore.EventData{ID: uuid.New(), Type: "Seed", SchemaVersion: 1, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}

	// The same store without group commit, for the before/after of that change.
	ungrouped, err := postgres.Open(ctx, pool, postgres.GroupCommit(0))
	if err != nil {
		b.Fatal(err)
	}
	appendTo := func(s *postgres.Store) func(ctx context.Context, stream string) error {
		return func(ctx context.Context, stream string) error {
			_, err := s.Append(ctx, stream, eventstore.NoStream(), eventstore.EventData{
				ID: uuid.New(), Type: "ItemAdded", SchemaVersion: 2, Data: data,
				Metadata: eventstore.Metadata{CorrelationID: "c", Actor: "bench", Command: "AddItem"},
			})
			return err
		}
	}

	for _, clients := range []int{1, 8, 32} {
		var baseline float64
		b.Run(fmt.Sprintf("insert-baseline/clients=%d", clients), func(b *testing.B) {
			baseline = perSecond(b, clients, func(ctx context.Context, stream string) error {
				_, err := pool.Exec(ctx, `INSERT INTO baseline (stream_id, version, data) VALUES ($1, 1, $2)`, stream, data)
				return err
			})
		})
		b.Run(fmt.Sprintf("insert-event-row/clients=%d", clients), func(b *testing.B) {
			rate := perSecond(b, clients, func(ctx context.Context, stream string) error {
				_, err := pool.Exec(ctx, `INSERT INTO event_rows (tx_id, event_id, stream_id, version, type, schema_version, data, metadata)
VALUES (pg_current_xact_id()::text::bigint, $1, $2, 1, 'ItemAdded', 2, $3, $4)`, uuid.New(), stream, data, meta)
				return err
			})
			if baseline > 0 {
				b.ReportMetric(rate/baseline, "ratio-to-insert")
			}
		})
		b.Run(fmt.Sprintf("append-ungrouped/clients=%d", clients), func(b *testing.B) {
			rate := perSecond(b, clients, appendTo(ungrouped))
			if baseline > 0 {
				b.ReportMetric(rate/baseline, "ratio-to-insert")
			}
		})
		b.Run(fmt.Sprintf("append/clients=%d", clients), func(b *testing.B) {
			rate := perSecond(b, clients, appendTo(s))
			if baseline > 0 {
				b.ReportMetric(rate/baseline, "ratio-to-insert")
			}
		})
	}
}

// perSecond runs b.N operations spread over clients goroutines and reports
// their rate. Each operation writes a fresh stream.
func perSecond(b *testing.B, clients int, op func(ctx context.Context, stream string) error) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	prefix := uuid.NewString()
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := op(ctx, fmt.Sprintf("%s-%d", prefix, i))
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "ops/s")
	return rate
}

// BenchmarkReadAll measures a tailing reader's log read (the projector's), at the head of a log of
// 100,000 events and 100 events behind it, and a rebuild's page of 5,000 events, against the same
// read without genericPlan: planned afresh on every call, as PostgreSQL's plan cache does for it on
// a log of this size.
//
//	make test ARGS='-run=^$ -bench=ReadAll -benchtime=3s ./eventstore/postgres/'
func BenchmarkReadAll(b *testing.B) {
	s, pool := newStore(b)
	ctx := context.Background()
	data := []byte(`{"sku":"SKU-123456","name":"Espresso beans, 1 kg, dark roast, whole","quantity":3,"unit_price_cents":1999}`)
	batch := make([]eventstore.EventData, 100)
	var page, behind, head eventstore.Position
	for i := range 1000 {
		for j := range batch {
			batch[j] = eventstore.EventData{ID: uuid.New(), Type: "ItemAdded", SchemaVersion: 2, Data: data}
		}
		res, err := s.Append(ctx, fmt.Sprintf("seed-%d", i), eventstore.NoStream(), batch...)
		if err != nil {
			b.Fatal(err)
		}
		behind, head = head, res.Position
		if i == 949 {
			page = res.Position // 5,000 events behind the head
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE events`); err != nil {
		b.Fatal(err)
	}
	waitHead(b, s, head)

	type read func(ctx context.Context, from eventstore.Position, limit int) ([]eventstore.RecordedEvent, error)
	customPlan := func(ctx context.Context, from eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
		return postgres.ReadAllCustomPlan(ctx, s, from, limit)
	}
	for _, at := range []struct {
		name  string
		from  eventstore.Position
		limit int
		want  int
	}{{"head", head, 501, 0}, {"behind=100", behind, 501, 100}, {"page=5000", page, 5000, 5000}} {
		perOp := func(b *testing.B, r read) float64 {
			for b.Loop() {
				events, err := r(ctx, at.from, at.limit)
				if err != nil || len(events) != at.want {
					b.Fatalf("read after %s: %d events, %v; want %d", at.from, len(events), err, at.want)
				}
			}
			return float64(b.Elapsed()) / float64(b.N)
		}
		var baseline float64
		b.Run("custom-plan/"+at.name, func(b *testing.B) { baseline = perOp(b, customPlan) })
		b.Run("generic-plan/"+at.name, func(b *testing.B) {
			if ns := perOp(b, s.ReadAll); baseline > 0 {
				b.ReportMetric(baseline/ns, "speedup")
			}
		})
	}
}
