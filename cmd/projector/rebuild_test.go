package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/internal/proctest"
	"github.com/orderflow/orderflow/projections"
	"github.com/orderflow/orderflow/projections/projectiontest"
)

// cli runs the projector binary with args to completion.
func cli(t *testing.T, env map[string]string, args ...string) *proctest.Process {
	t.Helper()
	p := proctest.Launch(t, binary, env, args...)
	p.ExitCode() // waits
	return p
}

// seedOrders appends n order histories, a whole history per append, and returns the number of events.
func seedOrders(t *testing.T, s eventstore.Appender, n int) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(31, 32))
	events := 0
	for i := range n {
		id := uuid.New()
		h := ordergen.History(rng, id, fmt.Sprint("c", i%9), "EUR", time.Now())
		if _, err := s.Append(timeout(t, 10*time.Second), projectiontest.Stream(id), eventstore.NoStream(),
			projectiontest.Encode(t, eventstore.Metadata{Actor: "cli-test"}, h...)...); err != nil {
			t.Fatal(err)
		}
		events += len(h)
	}
	return events
}

func rebuildEvents(t *testing.T, pool *pgxpool.Pool, name string) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(timeout(t, 5*time.Second), `SELECT coalesce((SELECT events FROM projection_rebuilds WHERE name = $1), -1)`,
		name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// killPartWay starts `projector rebuild name` and kills it (SIGKILL) once its copy holds some events.
func killPartWay(t *testing.T, env map[string]string, pool *pgxpool.Pool, name string) int64 {
	t.Helper()
	p := proctest.Launch(t, binary, env, "rebuild", name)
	deadline := time.Now().Add(30 * time.Second)
	for rebuildEvents(t, pool, name) <= 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no progress within 30s\n%s", p.Logs())
		}
		select {
		case <-p.Done():
			t.Fatalf("rebuild ended before it was killed: %d\n%s", p.ExitCode(), p.Logs())
		case <-time.After(5 * time.Millisecond):
		}
	}
	p.Kill()
	return rebuildEvents(t, pool, name)
}

// TestRebuildCommand runs `projector rebuild` and `projector status` with no projector running: the
// command builds the copy itself, resumes after a kill -9 from its checkpoint, reports its rate;
// --abort discards a part-built copy; the live copy changes only at the switch.
func TestRebuildCommand(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := start(t, map[string]string{"DATABASE_URL": db, "PROJECTOR_ID": "cli-1"})
	store, pool := openStore(t, db)
	events := seedOrders(t, store, 150)
	projectiontest.WaitCaughtUp(t, pool, pool, 20*time.Second, allNames()...)
	p.Stop()
	live := dump(t, pool)

	env := map[string]string{"DATABASE_URL": db, "REBUILD_BATCH_SIZE": "10", "LOG_LEVEL": "info"}
	st := cli(t, env, "status")
	if st.ExitCode() != 0 {
		t.Fatalf("status: exit %d\n%s", st.ExitCode(), st.Logs())
	}
	for _, want := range append([]string{"PROJECTION", "STATE", "GENERATION", "stopped"}, allNames()...) {
		if !strings.Contains(st.Stdout(), want) {
			t.Errorf("status lacks %q:\n%s", want, st.Stdout())
		}
	}

	// Killed part-way, the copy keeps what it committed; the live copy is untouched.
	done := killPartWay(t, env, pool, projections.NameOrders)
	if done <= 0 || done >= int64(events) {
		t.Fatalf("events in the copy after the kill: %d of %d", done, events)
	}
	if diff := projectiontest.Diff(dump(t, pool), live); diff != "" {
		t.Fatalf("live copy changed by a killed rebuild:\n%s", diff)
	}
	st = cli(t, env, "status", "--json")
	var reports []projections.Report
	if err := json.Unmarshal([]byte(st.Stdout()), &reports); err != nil || st.ExitCode() != 0 {
		t.Fatalf("status --json: %d %v\n%s", st.ExitCode(), err, st.Logs())
	}
	for _, r := range reports {
		if r.Generation != 1 || (r.Name == projections.NameOrders) != (r.Rebuild != nil) {
			t.Errorf("status of %s: generation %d, rebuild %+v", r.Name, r.Generation, r.Rebuild)
		}
		if r.Rebuild != nil && (r.Rebuild.Events != done || r.Rebuild.EventsTotal == nil || *r.Rebuild.EventsTotal != int64(events)) {
			t.Errorf("rebuild of %s: %+v, want %d of %d events done", r.Name, r.Rebuild, done, events)
		}
	}

	// Run again, it resumes from the copy's checkpoint and switches.
	rb := cli(t, env, "rebuild", projections.NameOrders)
	if rb.ExitCode() != 0 {
		t.Fatalf("rebuild: exit %d\n%s", rb.ExitCode(), rb.Logs())
	}
	if want := fmt.Sprintf("events_done=%d ", done); !strings.Contains(rb.Stderr(), want) {
		t.Errorf("the resumed rebuild did not start from its checkpoint (%s):\n%s", want, rb.Stderr())
	}
	if ok, _ := regexp.MatchString(`orders: rebuilt, generation 2 at \S+: \d+ events in [0-9.]+s \(\d+ events/s\)`, rb.Stdout()); !ok {
		t.Errorf("rebuild output: %q", rb.Stdout())
	}
	if diff := projectiontest.Diff(dump(t, pool), live); diff != "" {
		t.Errorf("rebuilt copy differs from the live one at the same position:\n%s", diff)
	}

	// Aborted part-way: the copy is dropped, the live copy untouched.
	if done := killPartWay(t, env, pool, projections.NameAuditLog); done <= 0 {
		t.Fatalf("events in the copy after the kill: %d", done)
	}
	ab := cli(t, env, "rebuild", "--abort", projections.NameAuditLog)
	if ab.ExitCode() != 0 || !strings.Contains(ab.Stdout(), "rebuild aborted") {
		t.Errorf("abort: exit %d\n%s", ab.ExitCode(), ab.Logs())
	}
	var left int
	if err := pool.QueryRow(timeout(t, 5*time.Second), `SELECT (SELECT count(*) FROM projection_rebuilds) +
    (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild\_%')`).Scan(&left); err != nil || left != 0 {
		t.Errorf("rebuild rows and schemas left after the abort: %d (%v)", left, err)
	}
	if ab := cli(t, env, "rebuild", "--abort", projections.NameAuditLog); ab.ExitCode() != 0 ||
		!strings.Contains(ab.Stdout(), "no rebuild in progress") {
		t.Errorf("second abort: exit %d\n%s", ab.ExitCode(), ab.Logs())
	}
	if diff := projectiontest.Diff(dump(t, pool), live); diff != "" {
		t.Errorf("live copy changed by an aborted rebuild:\n%s", diff)
	}
}
