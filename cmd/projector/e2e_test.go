package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/postgres"
	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/internal/proctest"
	"github.com/orderflow/orderflow/migrations"
	"github.com/orderflow/orderflow/projections"
	"github.com/orderflow/orderflow/projections/projectiontest"
)

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(timeout(t, 10*time.Second), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// openStore opens the PostgreSQL event store at url, whose schema must be in place, announcing its
// appends as the command API would.
func openStore(t *testing.T, url string) (*postgres.NotifyingStore, *pgxpool.Pool) {
	t.Helper()
	pool := newPool(t, url)
	s, err := postgres.Open(timeout(t, 10*time.Second), pool)
	if err != nil {
		t.Fatal(err)
	}
	return s.EnableNotify(timeout(t, 5*time.Minute), postgres.NotifyOptions{}), pool
}

// appendOrder appends a random order history, one event per append as commands do, and returns the
// number of events.
func appendOrder(t *testing.T, s eventstore.Appender, rng *rand.Rand) (uuid.UUID, []domain.Event) {
	t.Helper()
	id := uuid.New()
	h := ordergen.History(rng, id, fmt.Sprint("c", rng.IntN(5)), []string{"EUR", "USD"}[rng.IntN(2)], time.Now())
	for i, ev := range h {
		md := eventstore.Metadata{Actor: "e2e", CorrelationID: "corr-" + id.String()[:8], Command: fmt.Sprintf("%T", ev)}
		if _, err := s.Append(timeout(t, 10*time.Second), projectiontest.Stream(id), eventstore.Exact(uint64(i)),
			projectiontest.Encode(t, md, ev)...); err != nil {
			t.Error(err)
			return id, h[:i]
		}
	}
	return id, h
}

func allNames() []string {
	var names []string
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	return names
}

func dump(t *testing.T, db *pgxpool.Pool) map[string][]string {
	t.Helper()
	d, err := projectiontest.Dump(timeout(t, 30*time.Second), db)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// owners returns projection_status.owner by projection.
func owners(t *testing.T, db *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := db.Query(timeout(t, 5*time.Second), `SELECT name, coalesce(owner, '') FROM projection_status`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var name, owner string
	if _, err := pgx.ForEachRow(rows, []any{&name, &owner}, func() error { out[name] = owner; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProjector runs the binary against one database holding events and read models: it creates the
// schema itself, projects what is appended, reports progress and metrics, stops cleanly on SIGTERM
// and resumes from its checkpoints.
func TestProjector(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := start(t, map[string]string{"DATABASE_URL": db, "PROJECTOR_ID": "e2e-1", "POLL_INTERVAL": "1m"})
	if status, body := p.get("/healthz"); status != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz: %d %s", status, body)
	}
	// The projector applied the event-store migrations: the store opens on its schema.
	store, pool := openStore(t, db)

	rng := rand.New(rand.NewPCG(11, 12))
	orders := map[uuid.UUID][]domain.Event{}
	events := 0
	for range 5 {
		id, h := appendOrder(t, store, rng)
		orders[id], events = h, events+len(h)
	}
	// POLL_INTERVAL is a minute: only the append notifications can bring the events in time.
	projectiontest.WaitCaughtUp(t, pool, pool, 10*time.Second, allNames()...)
	for id, h := range orders {
		want := domain.Rebuild(h)
		var status string
		var version int64
		if err := pool.QueryRow(timeout(t, 5*time.Second), `SELECT status, version FROM rm_orders WHERE order_id = $1`,
			id).Scan(&status, &version); err != nil || status != string(want.Status()) || version != int64(want.Version()) {
			t.Errorf("order %s: %s v%d (%v), want %s v%d", id, status, version, err, want.Status(), want.Version())
		}
	}
	if status, body := p.get("/readyz"); status != 200 || !strings.Contains(body, `"ready"`) {
		t.Errorf("/readyz: %d %s", status, body)
	}

	for _, name := range allNames() {
		l := fmt.Sprintf(`{projection="%s"}`, name)
		checks := map[string]float64{
			"projector_events_applied_total" + l: float64(events),
			"projector_lag_events" + l:           0,
			"projector_lag_seconds" + l:          0,
			"projector_owned" + l:                1,
			"projector_errors_total" + l:         -1, // no failure, no series
		}
		for series, want := range checks {
			if got := p.metric(series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
		for _, series := range []string{"projector_batch_size_count" + l, "projector_batch_duration_seconds_count" + l,
			fmt.Sprintf(`projector_position{part="commit",projection="%s"}`, name),
			fmt.Sprintf(`projector_head_position{part="commit",projection="%s"}`, name)} {
			if got := p.metric(series); got <= 0 {
				t.Errorf("%s = %v, want > 0", series, got)
			}
		}
		if p.metric(fmt.Sprintf(`projector_state{projection="%s",state="failing"}`, name)) != 0 {
			t.Errorf("%s failing", name)
		}
	}
	if p.metric("go_goroutines") <= 0 {
		t.Error("no Go runtime metrics")
	}

	// What the query API reads: one status row per projection, owned, caught up, at the checkpoint.
	rows, err := pool.Query(timeout(t, 5*time.Second), `SELECT s.name, s.state, s.owner, s.head_position = c.position,
    s.lag_events, s.lag_seconds, s.schema_version, c.last_event_at IS NOT NULL
FROM projection_status s JOIN projection_checkpoints c USING (name) ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var (
		name, state, owner string
		atHead, hasLast    bool
		lagEvents          int64
		lagSeconds         float64
		version            int
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &state, &owner, &atHead, &lagEvents, &lagSeconds, &version, &hasLast}, func() error {
		got = append(got, fmt.Sprintf("%s %t %s %t %d %v %d %t", name, state == "idle" || state == "running", owner, atHead, lagEvents, lagSeconds, version, hasLast))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"audit_log true e2e-1 true 0 0 1 true", "customer_summary true e2e-1 true 0 0 1 true",
		"daily_sales true e2e-1 true 0 0 1 true", "orders true e2e-1 true 0 0 1 true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("status rows\n got %v\nwant %v", got, want)
	}

	p.Stop()
	var stopped int
	if err := pool.QueryRow(timeout(t, 5*time.Second), `SELECT count(*) FROM projection_status WHERE state = 'stopped' AND owner IS NULL`).Scan(&stopped); err != nil || stopped != 4 {
		t.Errorf("%d projections recorded as stopped (%v), want 4", stopped, err)
	}

	// Restarted, it resumes from its checkpoints: it applies only what came meanwhile.
	more := 0
	for range 2 {
		_, h := appendOrder(t, store, rng)
		more += len(h)
	}
	p = start(t, map[string]string{"DATABASE_URL": db, "PROJECTOR_ID": "e2e-2"})
	projectiontest.WaitCaughtUp(t, pool, pool, 10*time.Second, allNames()...)
	if got := p.metric(`projector_events_applied_total{projection="orders"}`); got != float64(more) {
		t.Errorf("after the restart %v events applied, want the %d new ones", got, more)
	}
	p.Stop()
}

// TestMetricsToken: with METRICS_TOKEN set, /metrics answers a scrape that carries the token and
// nothing else; /healthz stays open, for the orchestrator.
func TestMetricsToken(t *testing.T) {
	const token = "scrape-0123456789abcdef"
	p := start(t, map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "METRICS_TOKEN": token})
	if status, body := p.get("/metrics"); status != 401 || strings.Contains(body, "projector_") {
		t.Errorf("/metrics without the token: %d %s", status, body)
	}
	if status, _ := p.get("/metrics", "Authorization", "Bearer not-the-token-0123456789"); status != 401 {
		t.Errorf("/metrics with another token: %d", status)
	}
	if status, body := p.get("/metrics", "Authorization", "Bearer "+token); status != 200 || !strings.Contains(body, "projector_") {
		t.Errorf("/metrics with the token: %d, %d bytes", status, len(body))
	}
	if status, _ := p.get("/healthz"); status != 200 {
		t.Errorf("/healthz: %d", status)
	}
}

// TestConfiguration: a bad setting or command is one clear line and exit status 2.
func TestConfiguration(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		settings map[string]string
		code     int
		want     []string
	}{
		{"no database", nil, nil, 2, []string{"invalid configuration", "DATABASE_URL: missing"}},
		{"bad settings", []string{"run"}, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x", "BATCH_SIZE": "0",
			"POLL_INTERVAL": "soon", "EVENTSTORE_URL": "mysql://x"}, 2, []string{"BATCH_SIZE", "POLL_INTERVAL", "EVENTSTORE_URL"}},
		{"unknown command", []string{"rebuild-everything"}, nil, 2, []string{`unknown command "rebuild-everything"`}},
		{"bad rebuild mode", []string{"run"}, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x",
			"REBUILD_ON_START": "sometimes"}, 2, []string{"REBUILD_ON_START"}},
		{"short metrics token", []string{"run"}, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x",
			"METRICS_TOKEN": "tiny"}, 2, []string{"METRICS_TOKEN: must be at least 16 bytes"}},
		{"rebuild of nothing", []string{"rebuild"}, nil, 2, []string{"no projection named"}},
		{"rebuild of an unknown projection", []string{"rebuild", "nosuch"}, nil, 2, []string{`unknown projection "nosuch"`}},
		{"rebuild of all and names", []string{"rebuild", "--all", "orders"}, nil, 2, []string{"--all and projection names"}},
		{"status with an argument", []string{"status", "orders"}, nil, 2, []string{"usage: projector status"}},
		{"help", []string{"help"}, nil, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proctest.Launch(t, binary, tt.settings, tt.args...)
			code := p.ExitCode()
			stderr := p.Stderr()
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if tt.code == 2 && (len(tt.args) == 0 || tt.args[0] == "run") && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", stderr)
			}
		})
	}
}

// writers appends random orders from n goroutines until stop is called; stop returns how many events
// were appended. Each pauses a little between orders, as command traffic would: flat out, a writer
// keeps a transaction open in the cluster nearly all the time, which holds back the visible log of
// every other test using the same server (the event store's xmin rule).
func writers(t *testing.T, s eventstore.Appender, n int, seed uint64) (stop func() int) {
	var (
		wg     sync.WaitGroup
		done   atomic.Bool
		events atomic.Int64
	)
	for i := range n {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			for !done.Load() && !t.Failed() {
				_, h := appendOrder(t, s, rng)
				events.Add(int64(len(h)))
				time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
			}
		})
	}
	return func() int {
		done.Store(true)
		wg.Wait()
		return int(events.Load())
	}
}

// rebuild projects the log of the event store at eventStoreURL from position zero into a fresh
// database, with the binary, and returns its tables.
func rebuild(t *testing.T, events *pgxpool.Pool, eventStoreURL string) map[string][]string {
	t.Helper()
	fresh := pgtest.NewDatabase(t)
	p := start(t, map[string]string{"DATABASE_URL": fresh, "EVENTSTORE_URL": eventStoreURL, "BATCH_SIZE": "100", "PROJECTOR_ID": "rebuild"})
	pool := newPool(t, fresh)
	projectiontest.WaitCaughtUp(t, events, pool, 60*time.Second, allNames()...)
	p.Stop()
	return dump(t, pool)
}

// TestCrashRecovery kills the projector with SIGKILL at random moments while orders are appended,
// restarting it each time; in the end every read model must equal a rebuild from position zero:
// nothing lost, nothing applied twice.
func TestCrashRecovery(t *testing.T) {
	db := pgtest.NewDatabase(t)
	if err := migrations.Up(timeout(t, time.Minute), db, migrations.EventStore()); err != nil {
		t.Fatal(err)
	}
	store, pool := openStore(t, db)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	// Small batches, so that a kill often lands inside a transaction.
	settings := map[string]string{"DATABASE_URL": db, "BATCH_SIZE": "7", "POLL_INTERVAL": "50ms"}

	// One writer announces its appends, the other does not: the poll has to find those.
	stopNotifying := writers(t, store, 1, seed)
	stopSilent := writers(t, store.Store, 1, seed+1)
	const kills = 12
	for i := range kills {
		p := start(t, settings)
		// Count from the projections' start, not the process's: on a loaded machine a process can
		// spend longer than the whole window in start-up, and the kill would never land in a batch.
		p.WaitOK("/readyz")
		time.Sleep(time.Duration(50+rng.IntN(500)) * time.Millisecond)
		p.Kill()
		if i == kills/2 {
			// Between two crashes, a checkpoint must be somewhere in the middle of the log.
			var moved int
			_ = pool.QueryRow(timeout(t, 5*time.Second), `SELECT count(*) FROM projection_checkpoints WHERE position <> '0:0'`).Scan(&moved)
			if moved == 0 {
				t.Error("no projection has moved after several runs")
			}
		}
	}
	appended := stopNotifying() + stopSilent()
	p := start(t, settings)
	projectiontest.WaitCaughtUp(t, pool, pool, 60*time.Second, allNames()...)
	p.Stop()

	got := dump(t, pool)
	if diff := projectiontest.Diff(got, rebuild(t, pool, db)); diff != "" {
		t.Errorf("read models after %d crashes differ from a rebuild:\n%s", kills, diff)
	}
	if n := len(got["rm_audit_log"]); n != appended {
		t.Errorf("audit log has %d rows, %d events were appended", n, appended)
	}
	t.Logf("%d events appended over %d crashes", appended, kills)
}

// TestTwoProcesses runs two projectors at once: each projection is applied by one of them, once;
// when the owner is killed the other takes over within seconds.
func TestTwoProcesses(t *testing.T) {
	db := pgtest.NewDatabase(t)
	if err := migrations.Up(timeout(t, time.Minute), db, migrations.EventStore()); err != nil {
		t.Fatal(err)
	}
	store, pool := openStore(t, db)
	procs := map[string]*proc{}
	for _, id := range []string{"a", "b"} {
		procs[id] = start(t, map[string]string{"DATABASE_URL": db, "PROJECTOR_ID": id, "BATCH_SIZE": "5"})
	}
	rng := rand.New(rand.NewPCG(13, 14))
	events := 0
	for range 10 {
		_, h := appendOrder(t, store, rng)
		events += len(h)
	}
	projectiontest.WaitCaughtUp(t, pool, pool, 20*time.Second, allNames()...)

	applied := func(p *proc, name string) float64 {
		return max(0, p.metric(fmt.Sprintf(`projector_events_applied_total{projection="%s"}`, name)))
	}
	before := map[string]float64{}
	for _, name := range allNames() {
		a, b := applied(procs["a"], name), applied(procs["b"], name)
		if a+b != float64(events) {
			t.Errorf("%s: a applied %v and b %v events, want %d in all", name, a, b, events)
		}
		before[name] = a
	}
	own := owners(t, pool)
	if len(own) != 4 {
		t.Fatalf("owners %v", own)
	}
	for name, o := range own {
		if o != "a" && o != "b" {
			t.Errorf("%s owned by %q", name, o)
		}
	}

	// Kill the owner of the orders projection; the other takes over everything.
	dead, alive := own[projections.NameOrders], "a"
	if dead == "a" {
		alive = "b"
	}
	procs[dead].Kill()
	killed := time.Now()
	deadline := killed.Add(10 * time.Second)
	for {
		o, taken := owners(t, pool), 0
		for _, owner := range o {
			if owner == alive {
				taken++
			}
		}
		if taken == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not take over within 10s: owners %v", alive, o)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s took over %s after the kill", alive, time.Since(killed).Round(time.Millisecond))

	more := 0
	for range 3 {
		_, h := appendOrder(t, store, rng)
		more += len(h)
	}
	projectiontest.WaitCaughtUp(t, pool, pool, 20*time.Second, allNames()...)
	for _, name := range allNames() {
		total := applied(procs[alive], name)
		if dead == "a" {
			total += before[name]
		} else {
			total += float64(events) - before[name]
		}
		if total != float64(events+more) {
			t.Errorf("%s: %v events applied over both processes, want %d", name, total, events+more)
		}
	}
	procs[alive].Stop()
	if diff := projectiontest.Diff(dump(t, pool), rebuild(t, pool, db)); diff != "" {
		t.Errorf("read models differ from a rebuild:\n%s", diff)
	}
}
