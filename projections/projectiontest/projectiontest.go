// Package projectiontest helps test the projector: events to append (the histories themselves come
// from internal/ordergen), a wait for projections to catch up, and a dump of every read-model table
// to compare two databases (a projector that was killed and restarted against a fresh rebuild, say).
//
// It is an ordinary package, not a _test file, so that the projector's package, binary and
// end-to-end tests share it, as the backends share eventstore/storetest.
package projectiontest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/command"
)

// Encode turns domain events into events to append, each with a new ID and md as metadata.
func Encode(tb testing.TB, md eventstore.Metadata, events ...domain.Event) []eventstore.EventData {
	tb.Helper()
	out := make([]eventstore.EventData, len(events))
	for i, e := range events {
		typ, version, data, err := domain.MarshalEvent(e)
		if err != nil {
			tb.Fatalf("marshal %T: %v", e, err)
		}
		out[i] = eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: version, Data: data, Metadata: md}
	}
	return out
}

// Stream returns the name of an order's stream, as the command side writes it.
func Stream(id uuid.UUID) string { return command.StreamName(id) }

// Querier is what Dump and CaughtUp read with: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Tables are the read-model tables, each with the key that orders its rows.
func Tables() map[string]string {
	return map[string]string{
		"rm_orders":             "order_id",
		"rm_order_items":        "order_id, sku",
		"rm_customer_summaries": "customer_id",
		"rm_customer_paid":      "customer_id, currency",
		"rm_customer_orders":    "order_id",
		"rm_daily_sales":        "day, currency",
		"rm_sales_orders":       "order_id",
		"rm_audit_log":          "event_id",
	}
}

// Dump returns every row of every read-model table as JSON, in key order, and the checkpoint of every
// projection ("checkpoints": "name position"), keyed by table. Two databases that were fed the same
// log dump equal.
func Dump(ctx context.Context, db Querier) (map[string][]string, error) {
	out := map[string][]string{}
	queries := map[string]string{"checkpoints": `SELECT name || ' ' || position FROM projection_checkpoints ORDER BY name`}
	for table, key := range Tables() {
		queries[table] = fmt.Sprintf(`SELECT to_jsonb(t)::text FROM %s t ORDER BY %s`, table, key)
	}
	for name, q := range queries {
		rows, err := db.Query(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("dump %s: %w", name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("dump %s: %w", name, err)
		}
		out[name] = lines
	}
	return out, nil
}

// Diff describes how two dumps differ, or returns "" when they are equal.
func Diff(got, want map[string][]string) string {
	var b strings.Builder
	for table, w := range want {
		g := got[table]
		if len(g) != len(w) {
			fmt.Fprintf(&b, "%s: %d rows, want %d\n", table, len(g), len(w))
		}
		shown := 0
		for i := 0; i < min(len(g), len(w)) && shown < 3; i++ {
			if g[i] != w[i] {
				fmt.Fprintf(&b, "%s row %d:\n   got %s\n  want %s\n", table, i, g[i], w[i])
				shown++
			}
		}
	}
	for table := range got {
		if _, ok := want[table]; !ok {
			fmt.Fprintf(&b, "%s: unexpected\n", table)
		}
	}
	return b.String()
}

// CaughtUp reports whether every named projection's checkpoint is at or past head.
func CaughtUp(ctx context.Context, db Querier, head eventstore.Position, names ...string) (bool, error) {
	rows, err := db.Query(ctx, `SELECT position FROM projection_checkpoints WHERE name = ANY($1)`, names)
	if err != nil {
		return false, err
	}
	positions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return false, err
	}
	if len(positions) < len(names) {
		return false, nil
	}
	for _, token := range positions {
		p, err := eventstore.ParsePosition(token)
		if err != nil {
			return false, err
		}
		if p.Compare(head) < 0 {
			return false, nil
		}
	}
	return true, nil
}

// LastCommitted returns the position of the last event committed to the PostgreSQL event store
// whose database q reads. Unlike Head it does not wait for older transactions anywhere in the cluster
// to end, so after an append returns, the event is in it: it is the position a test waits for.
func LastCommitted(ctx context.Context, q Querier) (eventstore.Position, error) {
	rows, err := q.Query(ctx, `SELECT tx_id, seq FROM events ORDER BY tx_id DESC, seq DESC LIMIT 1`)
	if err != nil {
		return eventstore.Position{}, err
	}
	var tx, seq int64
	if _, err := pgx.ForEachRow(rows, []any{&tx, &seq}, func() error { return nil }); err != nil {
		return eventstore.Position{}, err
	}
	return eventstore.Position{Commit: uint64(tx), Prepare: uint64(seq)}, nil
}

// WaitCaughtUp waits until every named projection in the read-model database db has applied every
// event committed to the PostgreSQL event store in events (LastCommitted) at the time of the call,
// failing tb after timeout.
func WaitCaughtUp(tb testing.TB, events, db Querier, timeout time.Duration, names ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	target, err := LastCommitted(ctx, events)
	if err != nil {
		tb.Fatalf("last committed event: %v", err)
	}
	for {
		ok, err := CaughtUp(ctx, db, target, names...)
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("projections %v not at %s within %s (last error: %v)", names, target, timeout, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
