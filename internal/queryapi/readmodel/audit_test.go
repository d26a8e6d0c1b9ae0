package readmodel

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/migrations"
)

// TestAuditIndexes: each filter of GET /audit is served by an index that also gives the order, so
// that no page sorts the rows it reads. Sequential and bitmap scans are turned off because on a
// small table PostgreSQL rightly prefers them; the question is whether an index can serve the query,
// order included. (Without migration 00003, the order_id filter fails here: a scan of
// rm_audit_log_order_idx and a sort.) Every secondary index serves one of them: an index no query
// reads only costs each event a write.
func TestAuditIndexes(t *testing.T) {
	pool := readModelPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exec := func(sql string) {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO rm_audit_log (event_id, position, commit_pos, prepare_pos, order_id, version, type, actor, recorded_at)
SELECT gen_random_uuid(), i || ':0', i, 0, ('00000000-0000-0000-0000-' || lpad((i % 200 + 1)::text, 12, '0'))::uuid,
	i, 'Type' || (i % 7), 'actor-' || (i % 200), timestamptz '2026-03-01' + i * interval '1 second'
FROM generate_series(1, 2000) AS i`)
	exec(`ANALYZE rm_audit_log`)
	key := AuditKey{RecordedAt: time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC), EventID: uuid.New()}
	from := time.Date(2026, 3, 1, 0, 5, 0, 0, time.UTC)
	tests := []struct {
		filter AuditFilter
		index  string
	}{
		{AuditFilter{}, "rm_audit_log_recorded_idx"},
		{AuditFilter{From: from, To: key.RecordedAt, After: &key}, "rm_audit_log_recorded_idx"},
		{AuditFilter{Actor: "actor-3", After: &key}, "rm_audit_log_actor_idx"},
		{AuditFilter{Type: "Type2", From: from}, "rm_audit_log_type_idx"},
		{AuditFilter{OrderID: uuid.MustParse("00000000-0000-0000-0000-000000000007"), After: &key}, "rm_audit_log_order_recorded_idx"},
	}
	used := map[string]bool{"rm_audit_log_pkey": true} // the projection's key: replays skip recorded events
	for _, tt := range tests {
		used[tt.index] = true
	}
	rows, err := pool.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'rm_audit_log' AND schemaname = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range indexes {
		if !used[name] {
			t.Errorf("index %s serves none of the audit queries", name)
		}
	}
	for _, tt := range tests {
		tt.filter.Limit = 50
		sql, args := auditQuery(tt.filter)
		var plan strings.Builder
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			for _, set := range []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off"} {
				if _, err := tx.Exec(ctx, set); err != nil {
					return err
				}
			}
			rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
			if err != nil {
				return err
			}
			var line string
			_, err = pgx.ForEachRow(rows, []any{&line}, func() error { plan.WriteString(line + "\n"); return nil })
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan.String(), tt.index) || strings.Contains(plan.String(), "Sort") {
			t.Errorf("%+v: want an index scan of %s without a sort:\n%s", tt.filter, tt.index, plan.String())
		}
	}
}

// readModelPool returns a pool on a fresh database of its own with the read-model schema.
func readModelPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool := pgtest.NewPool(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := migrations.Up(ctx, pool.Config().ConnString(), migrations.ReadModel()); err != nil {
		tb.Fatal(err)
	}
	return pool
}
