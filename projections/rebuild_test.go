package projections_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
	"github.com/orderflow/orderflow/projections"
	"github.com/orderflow/orderflow/projections/projectiontest"
)

// seed appends n random order histories, one append per order.
func (e *env) seed(t *testing.T, rng *rand.Rand, n int) {
	t.Helper()
	for i := range n {
		id := uuid.New()
		e.append(t, id, eventstore.Metadata{Actor: "seed"},
			ordergen.History(rng, id, fmt.Sprint("c", i%7), []string{"EUR", "USD"}[i%2], time.Now())...)
	}
}

// waitRebuilt waits until every projection named has switched to generation gen.
func (e *env) waitRebuilt(t *testing.T, gen int, names ...string) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%v at generation %d", names, gen), func() bool {
		var n int
		err := e.pool.QueryRow(timeout(t, 5*time.Second), `SELECT count(*) FROM projection_checkpoints
WHERE name = ANY($1) AND generation = $2 AND NOT EXISTS (SELECT 1 FROM projection_rebuilds r WHERE r.name = projection_checkpoints.name)`,
			names, gen).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == len(names)
	})
}

func (e *env) request(t *testing.T, keepOld bool, ps ...projections.Projection) {
	t.Helper()
	for _, p := range ps {
		if _, err := projections.RequestRebuild(timeout(t, 5*time.Second), e.pool, p, "test", keepOld); err != nil {
			t.Fatal(err)
		}
	}
}

// reader queries one projection through the query API's store until stopped, and records any
// failure, a position that went backwards, or an empty read model.
type reader struct {
	name  string
	read  func(ctx context.Context) (eventstore.Position, int, error)
	reads atomic.Int64
	errs  []error
}

func (r *reader) run(stop <-chan struct{}) {
	var last eventstore.Position
	for {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pos, n, err := r.read(ctx)
		cancel()
		r.reads.Add(1)
		switch {
		case err != nil:
			r.errs = append(r.errs, err)
		case pos.Compare(last) < 0:
			r.errs = append(r.errs, fmt.Errorf("position went back from %s to %s", last, pos))
		case n == 0:
			r.errs = append(r.errs, fmt.Errorf("empty read model at %s", pos))
		}
		if err == nil {
			last = pos
		}
		if len(r.errs) > 10 {
			return
		}
	}
}

func readers(s *readmodel.Store, customer string) []*reader {
	day := time.Now().UTC().Truncate(24 * time.Hour)
	return []*reader{
		{name: projections.NameOrders, read: func(ctx context.Context) (eventstore.Position, int, error) {
			page, pos, err := s.Orders(ctx, readmodel.OrderFilter{Limit: 5})
			return pos, len(page.Orders), err
		}},
		{name: projections.NameOrders + " by id", read: func(ctx context.Context) (eventstore.Position, int, error) {
			page, _, err := s.Orders(ctx, readmodel.OrderFilter{Limit: 1})
			if err != nil || len(page.Orders) == 0 {
				return eventstore.Position{}, 0, err
			}
			o, pos, err := s.Order(ctx, page.Orders[0].OrderID)
			if err != nil {
				return pos, 0, err
			}
			return pos, len(o.Items) + 1, nil
		}},
		{name: projections.NameCustomerSummary, read: func(ctx context.Context) (eventstore.Position, int, error) {
			sum, pos, err := s.CustomerSummary(ctx, customer)
			if err != nil {
				return pos, 0, err
			}
			return pos, int(sum.OrdersTotal), nil
		}},
		{name: projections.NameDailySales, read: func(ctx context.Context) (eventstore.Position, int, error) {
			sales, pos, err := s.DailySales(ctx, readmodel.SalesFilter{From: day.AddDate(0, 0, -1), To: day.AddDate(0, 0, 2)})
			return pos, len(sales), err
		}},
	}
}

// TestRebuildWhileLive rebuilds every projection blue-green while orders are appended and the query
// API's reads run: no read fails, sees an empty read model or goes back in position; the switched-to
// copies equal copies rebuilt from scratch on a quiet log, at the same position.
func TestRebuildWhileLive(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(11, 12))
	e.seed(t, rng, 100)
	e.run(t, projections.Config{RebuildBatchSize: 40, RebuildPoll: 50 * time.Millisecond})
	e.waitCaughtUp(t)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var appended atomic.Int64
	wg.Go(func() {
		wrng := rand.New(rand.NewPCG(13, 14))
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			e.seed(t, wrng, 1)
			appended.Add(1)
		}
	})
	rs := readers(readmodel.NewStore(e.pool, 5*time.Second), "c1")
	for _, r := range rs {
		wg.Go(func() { r.run(stop) })
	}

	indexesBefore, paramsBefore := indexNames(t, e), storageParams(t, e)
	e.request(t, false, projections.All()...)
	e.waitRebuilt(t, 2, allNames()...)
	time.Sleep(100 * time.Millisecond) // reads and appends after the switch too
	close(stop)
	wg.Wait()
	for _, r := range rs {
		t.Logf("%s: %d reads", r.name, r.reads.Load())
		for _, err := range r.errs {
			t.Errorf("%s: %v", r.name, err)
		}
	}
	t.Logf("%d orders appended during the rebuild", appended.Load())
	if appended.Load() == 0 {
		t.Error("no appends during the rebuild")
	}
	e.waitCaughtUp(t)
	want := e.dump(t)

	// From scratch on a quiet log, keeping the old copy.
	e.request(t, true, projections.All()...)
	e.waitRebuilt(t, 3, allNames()...)
	if diff := projectiontest.Diff(e.dump(t), want); diff != "" {
		t.Errorf("a copy rebuilt while the log moved differs from one rebuilt on a quiet log:\n%s", diff)
	}
	var kept int
	if err := e.pool.QueryRow(timeout(t, 5*time.Second), `SELECT count(*) FROM information_schema.tables
WHERE table_schema LIKE 'retired\_%\_2'`).Scan(&kept); err != nil || kept != 8 {
		t.Errorf("tables kept with --keep-old: %d (%v), want 8", kept, err)
	}
	// The switched-to tables have the live ones' indexes, under the same names.
	if got := indexNames(t, e); got != indexesBefore {
		t.Errorf("indexes after the switch:\n%s\nwant\n%s", got, indexesBefore)
	}
	// And their storage parameters (the fillfactor that keeps updates HOT).
	if got := storageParams(t, e); got != paramsBefore {
		t.Errorf("storage parameters after the switch:\n%s\nwant\n%s", got, paramsBefore)
	}
	var leftover int
	if err := e.pool.QueryRow(timeout(t, 5*time.Second), `SELECT count(*) FROM pg_namespace
WHERE nspname LIKE 'rebuild\_%' OR nspname LIKE 'retired\_%\_1'`).Scan(&leftover); err != nil || leftover != 0 {
		t.Errorf("schemas left over: %d (%v)", leftover, err)
	}
}

// indexNames lists the indexes of the read-model tables in the live schema.
func indexNames(t *testing.T, e *env) string {
	t.Helper()
	names := e.strings(t, `SELECT tablename || '.' || indexname FROM pg_indexes
WHERE schemaname = current_schema() AND tablename LIKE 'rm\_%' ORDER BY 1`)
	if len(names) < 8 {
		t.Fatalf("indexes: %v", names)
	}
	return strings.Join(names, " ")
}

// storageParams lists the storage parameters of the read-model tables in the live schema.
func storageParams(t *testing.T, e *env) string {
	t.Helper()
	params := e.strings(t, `SELECT relname || ' ' || array_to_string(reloptions, ',') FROM pg_class
WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' AND relname LIKE 'rm\_%' AND reloptions IS NOT NULL ORDER BY 1`)
	if len(params) == 0 {
		t.Fatal("no read-model table has storage parameters")
	}
	return strings.Join(params, " ")
}

// strings runs a query of one text column and returns its rows.
func (e *env) strings(t *testing.T, sql string) []string {
	t.Helper()
	rows, err := e.pool.Query(timeout(t, 5*time.Second), sql)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// projected seeds the log with orders random orders, lets every projection apply it, stops them
// and returns the read models' dump.
func (e *env) projected(t *testing.T, rng *rand.Rand, orders int) map[string][]string {
	t.Helper()
	e.seed(t, rng, orders)
	r := e.run(t, projections.Config{})
	e.waitCaughtUp(t)
	r.stop()
	return e.dump(t)
}

// counting counts the events a projection applies, and cancels a context after a number of batches.
// It defers keys as the projection does, unless keepKeys.
type counting struct {
	projections.Projection
	events   atomic.Int64
	batches  atomic.Int64
	stopAt   int64
	cancel   context.CancelFunc
	keepKeys bool
}

func (c *counting) DefersKeys() bool {
	d, ok := c.Projection.(projections.KeyDeferrer)
	return ok && d.DefersKeys() && !c.keepKeys
}

func (c *counting) Apply(ctx context.Context, db projections.Querier, batch []eventstore.RecordedEvent, w *projections.Writes) error {
	if c.batches.Add(1) == c.stopAt {
		c.cancel()
		return ctx.Err()
	}
	c.events.Add(int64(len(batch)))
	return c.Projection.Apply(ctx, db, batch, w)
}

// TestRebuildResumeAndAbort: RunRebuild, with no projector running, stops part-way when interrupted
// and goes on from its own checkpoint when run again; an aborted rebuild leaves nothing behind. The
// live copy does not change until the switch.
func TestRebuildResumeAndAbort(t *testing.T) {
	e := newEnv(t)
	live := e.projected(t, rand.New(rand.NewPCG(21, 22)), 60)
	logLen, err := e.store.CountEvents(timeout(t, 5*time.Second), eventstore.Position{}, eventstore.Position{Commit: 1 << 62}, 1<<30)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	audit := &counting{Projection: projections.AuditLog{}, stopAt: 4, cancel: cancel}
	cfg := projections.Config{Store: e.store, DB: e.pool, Projections: []projections.Projection{audit},
		Owner: "test", RebuildBatchSize: 25}
	e.request(t, false, audit)
	if _, err := projections.RunRebuild(ctx, cfg, projections.NameAuditLog); err == nil {
		t.Fatal("interrupted rebuild: no error")
	}
	var done, lag int64
	if err := e.pool.QueryRow(timeout(t, 5*time.Second), `SELECT events, lag_events FROM projection_rebuilds WHERE name = $1`,
		projections.NameAuditLog).Scan(&done, &lag); err != nil || done != 75 {
		t.Fatalf("events done after the interruption: %d (%v), want 75", done, err)
	}
	// The lag is measured at the first batch, then at most once a second: after batch 1, 2 or 3.
	if behind := logLen - lag; behind%25 != 0 || behind < 25 || behind > 75 {
		t.Errorf("lag after the interruption: %d of %d events, want the log less 25, 50 or 75", lag, logLen)
	}
	if diff := projectiontest.Diff(e.dump(t), live); diff != "" {
		t.Fatalf("live copy changed by an interrupted rebuild:\n%s", diff)
	}

	audit.stopAt = 0
	if ok, err := projections.RunRebuild(timeout(t, time.Minute), cfg, projections.NameAuditLog); !ok || err != nil {
		t.Fatalf("resumed rebuild: %v, %v", ok, err)
	}
	if got := audit.events.Load(); got != logLen {
		t.Errorf("events applied over both runs: %d, want the log's %d", got, logLen)
	}
	if diff := projectiontest.Diff(e.dump(t), live); diff != "" {
		t.Errorf("rebuilt copy differs:\n%s", diff)
	}

	// Abort: part-built, then discarded.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	audit.batches.Store(0)
	audit.stopAt, audit.cancel = 2, cancel2
	e.request(t, false, audit)
	if _, err := projections.RunRebuild(ctx2, cfg, projections.NameAuditLog); err == nil {
		t.Fatal("interrupted rebuild: no error")
	}
	if err := projections.AbortRebuild(timeout(t, 5*time.Second), e.pool, projections.NameAuditLog); err != nil {
		t.Fatal(err)
	}
	if err := projections.AbortRebuild(timeout(t, 5*time.Second), e.pool, projections.NameAuditLog); !errors.Is(err, projections.ErrNoRebuild) {
		t.Errorf("second abort: %v, want ErrNoRebuild", err)
	}
	var schemas int
	if err := e.pool.QueryRow(timeout(t, 5*time.Second), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`,
		projections.BuildSchema(projections.NameAuditLog)).Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("build schemas after the abort: %d (%v)", schemas, err)
	}
	if _, err := projections.RunRebuild(timeout(t, 5*time.Second), cfg, projections.NameAuditLog); !errors.Is(err, projections.ErrNoRebuild) {
		t.Errorf("rebuild after the abort: %v, want ErrNoRebuild", err)
	}
	if diff := projectiontest.Diff(e.dump(t), live); diff != "" {
		t.Errorf("live copy changed by an aborted rebuild:\n%s", diff)
	}
}

// TestRebuildAfterIndexesChanged: indexes and unique keys dropped from or added to a live table while
// the projection is being rebuilt (a migration run meanwhile) are dropped from or added to the
// rebuilt copy as well.
func TestRebuildAfterIndexesChanged(t *testing.T) {
	for _, keepKeys := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepKeys=%v", keepKeys), func(t *testing.T) { testRebuildAfterIndexesChanged(t, keepKeys) })
	}
}

func testRebuildAfterIndexesChanged(t *testing.T, keepKeys bool) {
	e := newEnv(t)
	e.seed(t, rand.New(rand.NewPCG(23, 24)), 20)
	// A key the copy starts with (when it keeps its keys) and the live table loses meanwhile.
	// And plain unique indexes (no constraint): one the live table loses, one that stays, one that
	// becomes a key of the same name.
	for _, sql := range []string{`ALTER TABLE rm_audit_log ADD CONSTRAINT rm_audit_log_old_key UNIQUE (event_id, version)`,
		`CREATE UNIQUE INDEX rm_audit_log_old_uidx ON rm_audit_log (event_id, type)`,
		`CREATE UNIQUE INDEX rm_audit_log_stays_uidx ON rm_audit_log (event_id, actor)`,
		`CREATE UNIQUE INDEX rm_audit_log_keyed_uidx ON rm_audit_log (event_id, command)`,
		`ALTER TABLE rm_audit_log ADD CONSTRAINT rm_audit_log_stays_key UNIQUE (event_id, recorded_at)`} {
		if _, err := e.pool.Exec(timeout(t, 5*time.Second), sql); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	audit := &counting{Projection: projections.AuditLog{}, stopAt: 2, cancel: cancel, keepKeys: keepKeys}
	cfg := projections.Config{Store: e.store, DB: e.pool, Projections: []projections.Projection{audit},
		Owner: "test", RebuildBatchSize: 25}
	e.request(t, false, audit)
	if _, err := projections.RunRebuild(ctx, cfg, projections.NameAuditLog); err == nil {
		t.Fatal("interrupted rebuild: no error")
	}
	indexes := func() []string {
		return e.strings(t, `SELECT indexdef || coalesce(' (' || (SELECT contype::text FROM pg_constraint
    WHERE conname = indexname AND conrelid = 'rm_audit_log'::regclass) || ')', '') FROM pg_indexes
WHERE tablename = 'rm_audit_log' AND schemaname = current_schema() ORDER BY 1`)
	}
	for _, migrate := range []string{`DROP INDEX rm_audit_log_type_idx`, `CREATE INDEX rm_audit_log_command_idx ON rm_audit_log (command)`,
		`ALTER TABLE rm_audit_log DROP CONSTRAINT rm_audit_log_old_key`,
		`ALTER TABLE rm_audit_log ADD CONSTRAINT rm_audit_log_position_key UNIQUE (position)`,
		`DROP INDEX rm_audit_log_old_uidx`, `CREATE UNIQUE INDEX rm_audit_log_log_uidx ON rm_audit_log (commit_pos, prepare_pos)`,
		`ALTER TABLE rm_audit_log ADD CONSTRAINT rm_audit_log_keyed_uidx UNIQUE USING INDEX rm_audit_log_keyed_uidx`} {
		if _, err := e.pool.Exec(timeout(t, 5*time.Second), migrate); err != nil {
			t.Fatal(err)
		}
	}
	want := indexes()

	audit.stopAt = 0
	if ok, err := projections.RunRebuild(timeout(t, time.Minute), cfg, projections.NameAuditLog); !ok || err != nil {
		t.Fatalf("resumed rebuild: %v, %v", ok, err)
	}
	if got := indexes(); !slices.Equal(got, want) {
		t.Errorf("indexes of the rebuilt rm_audit_log: %v, want the live table's at the switch %v", got, want)
	}
}

// keyWatch is the audit log, recording how many keys its table has when each batch is applied.
type keyWatch struct {
	projections.AuditLog
	keys []int
}

func (k *keyWatch) Apply(ctx context.Context, db projections.Querier, batch []eventstore.RecordedEvent, w *projections.Writes) error {
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_constraint
WHERE conrelid = 'rm_audit_log'::regclass AND contype IN ('p', 'u')`).Scan(&n); err != nil {
		return err
	}
	k.keys = append(k.keys, n)
	return k.AuditLog.Apply(ctx, db, batch, w)
}

// TestRebuildDefersKeys: the audit log (a KeyDeferrer) is rebuilt into a copy without its primary
// key, which is added before the switch under the live key's name; the rebuilt table equals the live
// one, and replaying events into it writes nothing twice.
func TestRebuildDefersKeys(t *testing.T) {
	e := newEnv(t)
	live := e.projected(t, rand.New(rand.NewPCG(25, 26)), 30)
	keys := func() []string {
		return e.strings(t, `SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'rm_audit_log'::regclass AND contype IN ('p', 'u') ORDER BY 1`)
	}
	want := keys()
	if len(want) != 1 {
		t.Fatalf("keys of the live rm_audit_log: %v, want its primary key", want)
	}

	audit := &keyWatch{}
	cfg := projections.Config{Store: e.store, DB: e.pool, Projections: []projections.Projection{audit},
		Owner: "test", RebuildBatchSize: 25}
	e.request(t, false, audit)
	if ok, err := projections.RunRebuild(timeout(t, time.Minute), cfg, projections.NameAuditLog); !ok || err != nil {
		t.Fatalf("rebuild: %v, %v", ok, err)
	}
	if len(audit.keys) < 2 || audit.keys[0] != 0 {
		t.Errorf("keys of the copy at each batch: %v, want none at the first", audit.keys)
	}
	if got := keys(); !slices.Equal(got, want) {
		t.Errorf("keys of the rebuilt rm_audit_log: %v, want the live table's %v", got, want)
	}
	if got := e.dump(t)["rm_audit_log"]; len(got) == 0 || !slices.Equal(got, live["rm_audit_log"]) {
		t.Errorf("rebuilt audit log: %d rows, differs from the live one's %d", len(got), len(live["rm_audit_log"]))
	}

	// The live projection goes on with the key in place: a replayed batch is skipped.
	tx, err := e.pool.Begin(timeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if err := projections.ApplyIn(timeout(t, 5*time.Second), tx, projections.AuditLog{}, e.log(t)[:5]); err != nil {
		t.Fatalf("replayed batch: %v", err)
	}
	if err := tx.Commit(timeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := e.dump(t)["rm_audit_log"]; !slices.Equal(got, live["rm_audit_log"]) {
		t.Errorf("audit log after a replayed batch: %d rows, want %d", len(got), len(live["rm_audit_log"]))
	}
}
