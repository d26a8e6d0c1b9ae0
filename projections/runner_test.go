package projections_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/postgres"
	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/projections"
	"github.com/orderflow/orderflow/projections/projectiontest"
)

// metric returns the value of the sample of name whose labels include labels, summed over the
// samples that match.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue samples
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func newMetrics(t *testing.T) (*projections.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := projections.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// eventually polls cond every 10 ms until it holds, failing t after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// statusRow is a projection's row of projection_status, as the query API reads it.
type statusRow struct {
	State         string   `db:"state"`
	LastError     *string  `db:"last_error"`
	ErrorPosition *string  `db:"error_position"`
	ErrorCount    int      `db:"error_count"`
	Owner         *string  `db:"owner"`
	HeadPosition  *string  `db:"head_position"`
	LagEvents     *int64   `db:"lag_events"`
	LagSeconds    *float64 `db:"lag_seconds"`
	SchemaVersion *int     `db:"schema_version"`
}

func (e *env) status(t *testing.T, name string) statusRow {
	t.Helper()
	r, err := e.pool.Query(timeout(t, 5*time.Second), `SELECT state, last_error, error_position, error_count, owner,
    head_position, lag_events, lag_seconds, schema_version FROM projection_status WHERE name = $1`, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgx.CollectExactlyOneRow(r, pgx.RowToStructByName[statusRow])
	if err != nil {
		return statusRow{}
	}
	return s
}

func (e *env) checkpoint(t *testing.T, name string) string {
	t.Helper()
	var pos string
	if err := e.pool.QueryRow(timeout(t, 5*time.Second), `SELECT position FROM projection_checkpoints WHERE name = $1`,
		name).Scan(&pos); err != nil {
		return ""
	}
	return pos
}

// TestPoisonEvent: a projection that fails on one event stops right before it with the failure
// recorded; the others go on; once the fault is gone it recovers by itself.
func TestPoisonEvent(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 8 {
		id := uuid.New()
		e.append(t, id, eventstore.Metadata{}, ordergen.History(rng, id, fmt.Sprint("c", i), "EUR", time.Now())...)
	}
	log := e.log(t)
	poison, before := log[23], log[22]

	orders := &faulty{Projection: projections.Orders{}}
	orders.failOn(poison.ID)
	metrics, reg := newMetrics(t)
	r := e.run(t, projections.Config{
		Projections: []projections.Projection{orders, projections.CustomerSummary{}, projections.DailySales{}, projections.AuditLog{}},
		BatchSize:   10, Metrics: metrics,
	})

	e.waitCaughtUp(t, projections.NameCustomerSummary, projections.NameDailySales, projections.NameAuditLog)
	eventually(t, 10*time.Second, "orders failing at the poison event", func() bool {
		s := e.status(t, projections.NameOrders)
		return s.State == "failing" && s.ErrorCount >= 2
	})
	s := e.status(t, projections.NameOrders)
	if s.ErrorPosition == nil || *s.ErrorPosition != poison.Position.String() || s.LastError == nil ||
		!strings.Contains(*s.LastError, errPoison.Error()) || !strings.Contains(*s.LastError, poison.ID.String()) {
		t.Errorf("status %+v, want failing at %s (event %s)", s, poison.Position, poison.ID)
	}
	// The events before the poison one are applied: the batch was split to find it.
	if got := e.checkpoint(t, projections.NameOrders); got != before.Position.String() {
		t.Errorf("orders checkpoint %s, want %s, right before the poison event", got, before.Position)
	}
	var st projections.Status
	for _, x := range r.Status() {
		if x.Name == projections.NameOrders {
			st = x
		}
	}
	if st.State != projections.StateFailing || st.ErrorPosition == nil || *st.ErrorPosition != poison.Position || st.ErrorCount < 1 {
		t.Errorf("runner status %+v", st)
	}
	if n := metric(t, reg, "projector_errors_total", "projection", "orders"); n < 2 {
		t.Errorf("projector_errors_total{orders} = %v, want >= 2", n)
	}
	if n := metric(t, reg, "projector_state", "projection", "orders", "state", "failing"); n != 1 {
		t.Errorf("projector_state{orders,failing} = %v", n)
	}
	if n := metric(t, reg, "projector_errors_total", "projection", "audit_log"); n != 0 {
		t.Errorf("projector_errors_total{audit_log} = %v, want 0", n)
	}

	orders.failOn(uuid.Nil)
	e.waitCaughtUp(t)
	eventually(t, 5*time.Second, "orders healthy again", func() bool {
		s := e.status(t, projections.NameOrders)
		return s.State != "failing" && s.LastError == nil && s.ErrorPosition == nil && s.ErrorCount == 0
	})
	if n := metric(t, reg, "projector_events_applied_total", "projection", "orders"); int(n) != len(log) {
		t.Errorf("projector_events_applied_total{orders} = %v, want %d", n, len(log))
	}
}

// TestTwoRunners runs two "processes" (runners with pools of their own) on one database while events
// are appended: each projection is run by one of them, every event is applied once, and when the
// owner loses its lock connection or stops, the other takes over within seconds.
func TestTwoRunners(t *testing.T) {
	e := newEnv(t)
	type proc struct {
		name string
		run  *running
		reg  *prometheus.Registry
	}
	start := func(name string) *proc {
		m, reg := newMetrics(t)
		return &proc{name: name, reg: reg, run: e.run(t, projections.Config{
			DB: newPool(t, e.url), Owner: name, Metrics: m, BatchSize: 5})}
	}
	a, b := start("proc-a"), start("proc-b")

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		appended int
	)
	write := func(n int, seed uint64) {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, 7))
			for i := range n {
				id := uuid.New()
				h := ordergen.History(rng, id, fmt.Sprint("c", i%5), "EUR", time.Now())
				for _, ev := range h {
					e.append(t, id, eventstore.Metadata{}, ev)
				}
				mu.Lock()
				appended += len(h)
				mu.Unlock()
			}
		})
	}
	// Each event applied once, over both processes: the counters add up to the log, per projection.
	appliedOnce := func(t *testing.T) {
		t.Helper()
		sums := func() map[string]int {
			out := map[string]int{}
			for _, name := range allNames() {
				out[name] = int(metric(t, a.reg, "projector_events_applied_total", "projection", name) +
					metric(t, b.reg, "projector_events_applied_total", "projection", name))
			}
			return out
		}
		// A batch's counter moves just after its commit, which waitCaughtUp can see first.
		got := sums()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); got = sums() {
			if !slices.ContainsFunc(slices.Collect(maps.Values(got)), func(n int) bool { return n != appended }) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for name, sum := range got {
			if sum != appended {
				t.Errorf("%s: %d events applied over both processes, want %d", name, sum, appended)
			}
		}
		var audit int
		if err := e.pool.QueryRow(timeout(t, 5*time.Second), `SELECT count(*) FROM rm_audit_log`).Scan(&audit); err != nil || audit != appended {
			t.Errorf("audit log has %d rows, want %d (%v)", audit, appended, err)
		}
	}
	owners := func() map[string]string {
		out := map[string]string{}
		for _, p := range []*proc{a, b} {
			for _, s := range p.run.Status() {
				if s.Owned {
					out[s.Name] += p.name
				}
			}
		}
		return out
	}

	write(20, 1)
	wg.Wait()
	e.waitCaughtUp(t)
	appliedOnce(t)
	for name, owner := range owners() {
		if owner != "proc-a" && owner != "proc-b" {
			t.Errorf("%s owned by %q", name, owner)
		}
		if s := e.status(t, name); s.Owner == nil || *s.Owner != owner {
			t.Errorf("%s: projection_status.owner %v, want %s", name, s.Owner, owner)
		}
	}
	if len(owners()) != 4 {
		t.Errorf("owners %v, want one for each of the 4 projections", owners())
	}

	// The lock connections break while events flow: their projections stop at once, and are taken
	// over (by either process) without an event applied twice.
	write(10, 2)
	if _, err := e.pool.Exec(timeout(t, 5*time.Second), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND application_name LIKE 'projector lock %'`); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	e.waitCaughtUp(t)
	appliedOnce(t)

	// The process that owns most stops; the other takes everything over within seconds.
	stopped, other := a, b
	if strings.Count(fmt.Sprint(owners()), "proc-b") > 2 {
		stopped, other = b, a
	}
	stopped.run.stop()
	taken := time.Now()
	eventually(t, 5*time.Second, other.name+" owns every projection", func() bool {
		o := owners()
		return len(o) == 4 && !strings.Contains(fmt.Sprint(o), stopped.name)
	})
	t.Logf("%s took over in %s", other.name, time.Since(taken).Round(time.Millisecond))
	write(5, 3)
	wg.Wait()
	e.waitCaughtUp(t)
	appliedOnce(t)
}

// TestWakeUp: with the poll too slow to matter, events reach the read models within moments through
// the append notification, after the listener's connection was broken too; and each batch announces
// its position on the progress channel.
func TestWakeUp(t *testing.T) {
	e := newEnv(t)
	ctx := timeout(t, time.Minute)
	notifying := e.store.EnableNotify(ctx, postgres.NotifyOptions{})
	wake, err := postgres.Listen(ctx, e.url+"&application_name=wake-listener", postgres.AppendedChannel)
	if err != nil {
		t.Fatal(err)
	}
	progress, err := pgx.Connect(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = progress.Close(timeout(t, 5*time.Second)) })
	if _, err := progress.Exec(ctx, "LISTEN "+projections.ProgressChannel); err != nil {
		t.Fatal(err)
	}

	e.run(t, projections.Config{Waker: projections.WakeChan(wake), PollInterval: time.Minute})
	rng := rand.New(rand.NewPCG(8, 9))
	appendAndWait := func(t *testing.T) eventstore.Position {
		t.Helper()
		id := uuid.New()
		h := ordergen.History(rng, id, "c1", "EUR", time.Now())
		res, err := notifying.Append(ctx, projectiontest.Stream(id), eventstore.NoStream(), projectiontest.Encode(t, eventstore.Metadata{}, h...)...)
		if err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		projectiontest.WaitCaughtUp(t, e.pool, e.pool, 5*time.Second, allNames()...)
		t.Logf("caught up %s after the append", time.Since(started).Round(time.Millisecond))
		return res.Position
	}

	appendAndWait(t)
	// Idle now, and then woken again.
	time.Sleep(200 * time.Millisecond)
	pos := appendAndWait(t)

	// Every projection announces the position in its batch's transaction.
	seen := map[string]bool{}
	for len(seen) < 4 {
		n, err := progress.WaitForNotification(timeout(t, 5*time.Second))
		if err != nil {
			t.Fatalf("progress notifications %v: %v", seen, err)
		}
		name, token, ok := strings.Cut(n.Payload, ":")
		if p, err := eventstore.ParsePosition(token); !ok || err != nil {
			t.Fatalf("payload %q", n.Payload)
		} else if p == pos {
			seen[name] = true
		}
	}

	// The listener's connection breaks; it reconnects and wakes the runner again.
	if _, err := e.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'wake-listener'`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "listener reconnected", func() bool {
		var n int
		_ = e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wake-listener'`).Scan(&n)
		return n == 1
	})
	appendAndWait(t)
}

// readSpy is the event store, handing the size of each ReadAll result to the test, which thereby
// lets each read return in turn.
type readSpy struct {
	*postgres.Store
	reads chan int
}

func (s *readSpy) ReadAll(ctx context.Context, from eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	events, err := s.Store.ReadAll(ctx, from, limit)
	select {
	case s.reads <- len(events):
	case <-ctx.Done():
	}
	return events, err
}

// TestWakeUpDuringVisibilityRetry: a wake-up that comes while a projection waits to read again
// (because the last wake-up found nothing) makes it read at once, while without wake-ups it does not
// read again before its retry is due. The retry and the poll are an hour, so only wake-ups can make
// it read within the test; nor does it read again right after a batch that reached the head of the
// log.
func TestWakeUpDuringVisibilityRetry(t *testing.T) {
	e := newEnv(t)
	spy := &readSpy{Store: e.store, reads: make(chan int)}
	wake := make(chan struct{}, 1)
	e.run(t, projections.Config{Store: spy, Projections: projections.All()[:1], Waker: projections.WakeChan(wake),
		PollInterval: time.Hour, VisibilityRetry: time.Hour})
	read := func(after string) int {
		t.Helper()
		select {
		case n := <-spy.reads:
			return n
		case <-time.After(10 * time.Second):
			t.Fatalf("no read %s", after)
			return 0
		}
	}

	if n := read("at the start"); n != 0 {
		t.Fatalf("read %d events from an empty log", n)
	}
	wake <- struct{}{}
	if n := read("after a wake-up"); n != 0 {
		t.Fatalf("read %d events from an empty log", n)
	}
	// Nothing was visible: the projection now waits to retry, and reads nothing meanwhile.
	select {
	case n := <-spy.reads:
		t.Fatalf("read again (%d events) without a wake-up, before the retry was due", n)
	case <-time.After(100 * time.Millisecond):
	}

	id := uuid.New()
	res := e.append(t, id, eventstore.Metadata{}, ordergen.History(rand.New(rand.NewPCG(3, 4)), id, "c1", "EUR", time.Now())...)
	e.log(t) // visible: another package's transaction could hide them from the one read the test allows
	wake <- struct{}{}
	if n := read("after a wake-up during the retry wait"); n == 0 {
		t.Fatal("read nothing after the append")
	}
	// The read came back short of a batch: the projection waits again rather than read at once.
	select {
	case n := <-spy.reads:
		t.Fatalf("read again (%d events) right after a batch that reached the head of the log", n)
	case <-time.After(100 * time.Millisecond):
	}
	if got := e.checkpoint(t, projections.All()[0].Name()); got != res.Position.String() {
		t.Fatalf("checkpoint %s, want %s", got, res.Position)
	}
}

// TestRetriesOutlastABlocker: events hidden after their wake-up by an older transaction elsewhere in
// the cluster (a CREATE DATABASE, say) for longer than the first few retries are read soon after it
// ends, not at the next poll. The poll is an hour.
func TestRetriesOutlastABlocker(t *testing.T) {
	e := newEnv(t)
	wake := make(chan struct{}, 1)
	name := projections.All()[0].Name()
	e.run(t, projections.Config{Store: e.store, Projections: projections.All()[:1], Waker: projections.WakeChan(wake),
		PollInterval: time.Hour})
	blocker, err := e.pool.Begin(timeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blocker.Rollback(context.Background()) }()
	if _, err := blocker.Exec(timeout(t, 5*time.Second), `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	res := e.append(t, id, eventstore.Metadata{}, ordergen.History(rand.New(rand.NewPCG(5, 6)), id, "c1", "EUR", time.Now())...)
	wake <- struct{}{}
	time.Sleep(500 * time.Millisecond) // three times the first five retries
	if got := e.checkpoint(t, name); got == res.Position.String() {
		t.Fatal("the projection read events an older open transaction should hide")
	}
	if err := blocker.Rollback(timeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	for e.checkpoint(t, name) != res.Position.String() {
		if time.Since(released) > 5*time.Second {
			t.Fatalf("checkpoint %s 5 s after the blocker ended, want %s", e.checkpoint(t, name), res.Position)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("read %v after the blocker ended", time.Since(released).Round(time.Millisecond))
}

// gate holds its projection's first batch open until released.
type gate struct {
	projections.Projection
	entered, release chan struct{}
	once             sync.Once
}

func (g *gate) Apply(ctx context.Context, db projections.Querier, batch []eventstore.RecordedEvent, w *projections.Writes) error {
	g.once.Do(func() {
		close(g.entered)
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	})
	return g.Projection.Apply(ctx, db, batch, w)
}

// readCount is the event store, counting the reads of the log that reach it.
type readCount struct {
	*postgres.Store
	reads atomic.Int64
}

func (s *readCount) ReadAll(ctx context.Context, from eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	s.reads.Add(1)
	return s.Store.ReadAll(ctx, from, limit)
}

// TestBatchEndDuringVisibilityRetry: a projection waiting to read again after a batch reads as soon
// as another projection's batch ends, whose transaction may have hidden the new events. The retry
// and the poll are an hour, and no wake-up comes after the first.
func TestBatchEndDuringVisibilityRetry(t *testing.T) {
	e := newEnv(t)
	spy := &readCount{Store: e.store}
	wake := make(chan struct{}, 1)
	all := projections.All()
	first, other := all[0], &gate{Projection: all[1], entered: make(chan struct{}), release: make(chan struct{})}
	e.run(t, projections.Config{Store: spy, Projections: []projections.Projection{first, other},
		Waker: projections.WakeChan(wake), PollInterval: time.Hour, VisibilityRetry: time.Hour})
	rng := rand.New(rand.NewPCG(5, 6))
	order := func() eventstore.AppendResult {
		id := uuid.New()
		return e.append(t, id, eventstore.Metadata{}, ordergen.History(rng, id, "c1", "EUR", time.Now())...)
	}
	eventually(t, 10*time.Second, "both projections read the empty log", func() bool { return spy.reads.Load() > 0 })

	// Woken, the first projection applies the events, which reached the head of the log: it waits
	// to retry. The other reads them too and holds its batch open. Neither reads again meanwhile: the
	// first is not woken by its own batch's end.
	res := order()
	e.log(t) // visible: another package's transaction could hide them from the one read the test allows
	wake <- struct{}{}
	<-other.entered
	eventually(t, 10*time.Second, "the first projection applied the events", func() bool {
		return e.checkpoint(t, first.Name()) == res.Position.String()
	})
	before := spy.reads.Load()
	time.Sleep(100 * time.Millisecond)
	if n := spy.reads.Load() - before; n != 0 {
		t.Fatalf("%d reads while the other projection's batch is open", n)
	}

	// Events appended meanwhile, without a wake-up, reach the first projection when the other's
	// batch ends.
	res = order()
	e.log(t)
	close(other.release)
	eventually(t, 10*time.Second, "the first projection applied the later events", func() bool {
		return e.checkpoint(t, first.Name()) == res.Position.String()
	})
}

// countSpy is the event store, counting the lag counts asked of it.
type countSpy struct {
	*postgres.Store
	counts atomic.Int64
}

func (s *countSpy) CountEvents(ctx context.Context, after, upTo eventstore.Position, limit int64) (int64, error) {
	s.counts.Add(1)
	return s.Store.CountEvents(ctx, after, upTo, limit)
}

// batchRecorder records the statements of every pipelined batch, and every statement sent alone,
// through a pool.
type batchRecorder struct {
	mu      sync.Mutex
	batches [][]string
	single  map[*pgx.Conn][]string // by connection, in order
}

func (r *batchRecorder) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	if r.single == nil {
		r.single = map[*pgx.Conn][]string{}
	}
	r.single[conn] = append(r.single[conn], data.SQL)
	r.mu.Unlock()
	return ctx
}

func (r *batchRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *batchRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	var sqls []string
	for _, q := range data.Batch.QueuedQueries {
		sqls = append(sqls, q.SQL)
	}
	r.mu.Lock()
	r.batches = append(r.batches, sqls)
	r.mu.Unlock()
	return ctx
}

func (r *batchRecorder) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *batchRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestLiveBatchInOneRoundTrip: a live batch's writes go to the server in one pipeline with BEGIN, the
// checkpoint's move and COMMIT (the projection's reads come before, outside the transaction), and that
// pipeline also turns synchronous_commit off for the batch's transaction (projections.AsyncCommit), so
// that its commit does not wait for a WAL flush. No transaction is begun or ended on its own.
func TestLiveBatchInOneRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.seed(t, rand.New(rand.NewPCG(11, 12)), 6)
	rec := &batchRecorder{}
	cfg, err := pgxpool.ParseConfig(e.url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(timeout(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.run(t, projections.Config{DB: pool, BatchSize: 5}) // below projections.CopyFrom: no COPY
	projectiontest.WaitCaughtUp(t, e.pool, e.pool, 10*time.Second, allNames()...)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	moved := 0
	for _, b := range rec.batches {
		all := strings.Join(b, "\n")
		if !strings.Contains(all, "projection_advance") {
			continue
		}
		moved++
		if b[0] != "BEGIN" || b[len(b)-1] != "COMMIT" {
			t.Errorf("a checkpoint's batch that is not a whole transaction:\n%s", all)
		}
		if !slices.Contains(b, projections.AsyncCommit) {
			t.Errorf("a checkpoint's batch without %q:\n%s", projections.AsyncCommit, all)
		}
	}
	if moved < len(allNames()) {
		t.Errorf("%d batches moved a checkpoint, want at least one per projection", moved)
	}
	// The runner's own transactions, such as its check for a rebuild to claim, read projection_rebuilds first.
	for _, sqls := range rec.single {
		for i, sql := range sqls {
			s := strings.ToLower(strings.TrimSpace(sql))
			if s == "begin" && i+1 < len(sqls) && strings.Contains(sqls[i+1], "projection_rebuilds") {
				continue
			}
			if s == "begin" || s == "commit" || strings.HasPrefix(s, "update projection_checkpoints") {
				t.Errorf("a statement sent on its own: %q", sql)
			}
		}
	}
}

// TestCatchUpPacesLagCounts: a projection catching up counts the events left at most once a second,
// not once per batch, since a count walks the log to its head. The clock stands still, so the whole
// catch-up is within one second: one count per projection.
func TestCatchUpPacesLagCounts(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(5, 6))
	e.seed(t, rng, 20)
	spy := &countSpy{Store: e.store}
	now := time.Now()
	e.run(t, projections.Config{Store: spy, BatchSize: 5, Now: func() time.Time { return now }})
	e.waitCaughtUp(t)
	if n, want := spy.counts.Load(), int64(len(projections.All())); n != want {
		t.Errorf("%d lag counts while catching up, want %d (one per projection)", n, want)
	}
}

// TestFencedBatch: a batch whose owner expects the checkpoint where it no longer is (another process
// took the projection over and moved it), or of a generation it no longer has (a switch to a rebuilt
// copy), writes nothing, and says so; one that expects it where it is
// commits, twice in a row, each from where the last left it.
func TestFencedBatch(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(3, 4))
	e.seed(t, rng, 4)
	log := e.log(t)
	first, rest := log[:len(log)/2], log[len(log)/2:]
	proj := projections.CustomerSummary{}
	if _, err := e.pool.Exec(timeout(t, 5*time.Second), `INSERT INTO projection_checkpoints (name, schema_version)
VALUES ($1, $2)`, proj.Name(), proj.SchemaVersion()); err != nil {
		t.Fatal(err)
	}
	cfg := projections.Config{Store: e.store, DB: e.pool}
	commit := func(from eventstore.Position, events []eventstore.RecordedEvent) error {
		return projections.CommitBatch(timeout(t, 10*time.Second), cfg, proj, from, events)
	}
	checkpoint := func() string {
		var pos string
		if err := e.pool.QueryRow(timeout(t, 5*time.Second), `SELECT position FROM projection_checkpoints WHERE name = $1`,
			proj.Name()).Scan(&pos); err != nil {
			t.Fatal(err)
		}
		return pos
	}

	if err := commit(eventstore.Position{}, first); err != nil {
		t.Fatal(err)
	}
	before := e.dump(t)
	if err := commit(eventstore.Position{}, rest); !errors.Is(err, projections.ErrFenced) {
		t.Fatalf("a batch from a checkpoint that has moved: error %v, want ErrFenced", err)
	}
	if diff := projectiontest.Diff(e.dump(t), before); diff != "" {
		t.Errorf("the fenced batch wrote:\n%s", diff)
	}
	if got, want := checkpoint(), first[len(first)-1].Position.String(); got != want {
		t.Errorf("checkpoint at %s after the fenced batch, want %s", got, want)
	}
	// An owner that started before a switch to a rebuilt copy, which moves the checkpoint's
	// generation and leaves its position, is fenced off too: its batch was read from the old copy.
	stale, err := projections.BatchCommitter(cfg, proj)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(timeout(t, 5*time.Second), `UPDATE projection_checkpoints SET generation = generation + 1
WHERE name = $1`, proj.Name()); err != nil {
		t.Fatal(err)
	}
	if err := stale(timeout(t, 10*time.Second), first[len(first)-1].Position, rest); !errors.Is(err, projections.ErrFenced) {
		t.Fatalf("a batch of an older generation: error %v, want ErrFenced", err)
	}
	if diff := projectiontest.Diff(e.dump(t), before); diff != "" {
		t.Errorf("the batch of an older generation wrote:\n%s", diff)
	}
	if err := commit(first[len(first)-1].Position, rest); err != nil {
		t.Fatal(err)
	}
	if got, want := checkpoint(), rest[len(rest)-1].Position.String(); got != want {
		t.Errorf("checkpoint at %s, want %s", got, want)
	}

	// Two owners commit the same batch at once, as in the moment of a take-over: one of them only.
	e = newEnv(t)
	e.seed(t, rng, 4)
	log = e.log(t)
	cfg = projections.Config{Store: e.store, DB: e.pool}
	for _, p := range projections.All() {
		if _, err := e.pool.Exec(timeout(t, 5*time.Second), `INSERT INTO projection_checkpoints (name, schema_version)
VALUES ($1, $2)`, p.Name(), p.SchemaVersion()); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				errs <- projections.CommitBatch(timeout(t, 10*time.Second), cfg, p, eventstore.Position{}, log)
			}()
		}
		var committed int
		for range 2 {
			if err := <-errs; err == nil {
				committed++
			}
		}
		if committed != 1 {
			t.Errorf("%s: %d of two concurrent owners committed the same batch, want 1", p.Name(), committed)
		}
	}
}

// TestFailedBatchOfAFormerOwner: a batch that fails in the projection after another owner has moved
// the checkpoint is fenced off, not taken for a poison event: the failure may come from the rows the
// other owner wrote first.
func TestFailedBatchOfAFormerOwner(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(5, 6))
	id := uuid.New()
	e.append(t, id, eventstore.Metadata{}, ordergen.History(rng, id, "c1", "EUR", time.Now())...)
	log := e.log(t)
	orders := &faulty{Projection: projections.Orders{}}
	orders.failOn(log[0].ID)
	if _, err := e.pool.Exec(timeout(t, 5*time.Second), `INSERT INTO projection_checkpoints (name, schema_version, position)
VALUES ($1, $2, $3)`, orders.Name(), orders.SchemaVersion(), log[len(log)-1].Position.String()); err != nil {
		t.Fatal(err)
	}
	_, err := projections.Step(timeout(t, 10*time.Second), projections.Config{Store: e.store, DB: e.pool}, orders, eventstore.Position{})
	if !errors.Is(err, projections.ErrFenced) {
		t.Fatalf("error %v, want ErrFenced", err)
	}
}
