package postgres_test

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
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/postgres"
	"github.com/orderflow/orderflow/eventstore/storetest"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/migrations"
)

func testContext(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// newStore gives each test a database of its own with the event-store
// migrations applied.
func newStore(tb testing.TB) (*postgres.Store, *pgxpool.Pool) {
	tb.Helper()
	url := pgtest.NewDatabase(tb)
	ctx := testContext(tb, time.Minute)
	if err := migrations.Up(ctx, url, migrations.EventStore()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(pool.Close)
	s, err := postgres.Open(ctx, pool)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s, pool
}

// waitHead waits until log readers see pos. Visibility may trail a commit
// while another transaction in the cluster is open, such as a CREATE
// DATABASE of a test running in parallel.
func waitHead(tb testing.TB, s *postgres.Store, pos eventstore.Position) {
	tb.Helper()
	ctx := testContext(tb, 30*time.Second)
	for {
		head, err := s.Head(ctx)
		if err != nil {
			tb.Fatalf("head: %v (waiting for %s)", err, pos)
		}
		if head.Compare(pos) >= 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s, _ := newStore(t)
		return s
	})
}

func ev(typ string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: 1, Data: []byte(`{"k":"v"}`)}
}

func TestEventIDUsedInAnotherStream(t *testing.T) {
	s, _ := newStore(t)
	ctx := testContext(t, time.Minute)
	e := ev("A")
	if _, err := s.Append(ctx, "a", eventstore.NoStream(), e); err != nil {
		t.Fatal(err)
	}
	for _, exp := range []eventstore.ExpectedVersion{eventstore.NoStream(), eventstore.Any()} {
		if _, err := s.Append(ctx, "b", exp, ev("B"), e); !errors.Is(err, eventstore.ErrDuplicateEventID) {
			t.Fatalf("append at %s: err = %v, want ErrDuplicateEventID", exp, err)
		}
	}
	if _, err := s.ReadStream(ctx, "b", 1, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("refused append wrote to b: %v", err)
	}
}

// TestOpenTransactionHoldsReadersBack shows the mechanism that keeps the
// log gap-free: an event committed after an older, still open transaction
// stays invisible to log readers until that transaction ends, and then
// both appear in transaction order.
func TestOpenTransactionHoldsReadersBack(t *testing.T) {
	s, pool := newStore(t)
	ctx := testContext(t, time.Minute)
	start, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	first := ev("First")
	if _, err := s.AppendTx(ctx, slow, "slow", eventstore.NoStream(), first); err != nil {
		t.Fatal(err)
	}
	second := ev("Second")
	fast, err := s.Append(ctx, "fast", eventstore.NoStream(), second)
	if err != nil {
		t.Fatal(err)
	}

	if got, err := s.ReadAll(ctx, start, 10); err != nil || len(got) != 0 {
		t.Fatalf("read past an open transaction: %d events, err %v; want none", len(got), err)
	}
	if head, err := s.Head(ctx); err != nil || head != start {
		t.Fatalf("head moved past an open transaction: %s, err %v", head, err)
	}
	blockers, err := s.LogBlockers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var (
		pid uint32
		db  string
	)
	if err := slow.QueryRow(ctx, `SELECT pg_backend_pid(), current_database()`).Scan(&pid, &db); err != nil {
		t.Fatal(err)
	}
	// The list is the cluster's: other tests' transactions (a CREATE DATABASE, say) may come first.
	ours := slices.DeleteFunc(slices.Clone(blockers), func(b postgres.LogBlocker) bool { return b.Database != db })
	if len(ours) == 0 || ours[0].PID != int(pid) {
		t.Fatalf("log blockers = %+v, want the open transaction's backend %d first in database %s", blockers, pid, db)
	}

	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitHead(t, s, fast.Position)
	got, err := s.ReadAll(ctx, start, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != first.ID || got[1].ID != second.ID {
		t.Fatalf("after commit the log holds %v, want First then Second", got)
	}
}

// TestConcurrentWritersAndTailingReader is the stress test of the global
// log: many writers, some rolling back and some holding their transaction
// open, and a reader tailing the log meanwhile. The reader must see every
// committed event exactly once, in the order a later full read gives.
func TestConcurrentWritersAndTailingReader(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	s, pool := newStore(t)
	ctx := testContext(t, 3*time.Minute)

	const writers, txPerWriter = 16, 30
	var (
		committed     sync.Map // event ID -> struct{}
		lastCommitted sync.Map // writer -> position of its last committed append
		nCommit       atomic.Int64
		nRollback     atomic.Int64
		wg            sync.WaitGroup
		done          = make(chan struct{})
		writeErr      = make(chan error, writers)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := range txPerWriter {
				pos, err := writeOne(ctx, s, pool, rng, fmt.Sprintf("stress-%d-%d", w, i%4), &committed, &nCommit, &nRollback)
				if err != nil {
					writeErr <- fmt.Errorf("writer %d tx %d: %w", w, i, err)
					return
				}
				if !pos.IsZero() {
					lastCommitted.Store(w, pos)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	var seen []eventstore.RecordedEvent
	var from eventstore.Position
	tail := func() int {
		batch, err := s.ReadAll(ctx, from, 37)
		if err != nil {
			t.Fatalf("tail after %s: %v", from, err)
		}
		if len(batch) > 0 {
			seen = append(seen, batch...)
			from = batch[len(batch)-1].Position
		}
		return len(batch)
	}
tailing:
	for {
		select {
		case <-done:
			break tailing
		default:
			if tail() == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	close(writeErr)
	for err := range writeErr {
		t.Fatal(err)
	}
	// Drain up to the last committed event, which may become visible a
	// moment after its commit.
	var last eventstore.Position
	lastCommitted.Range(func(_, p any) bool {
		if pos := p.(eventstore.Position); pos.Compare(last) > 0 {
			last = pos
		}
		return true
	})
	waitHead(t, s, last)
	for tail() > 0 {
	}

	t.Logf("%d transactions committed, %d rolled back, %d events tailed", nCommit.Load(), nRollback.Load(), len(seen))
	if nRollback.Load() == 0 || nCommit.Load() == 0 {
		t.Fatal("the stress run did not exercise both commits and rollbacks")
	}
	ids := map[uuid.UUID]bool{}
	for i, e := range seen {
		if ids[e.ID] {
			t.Fatalf("event %s read twice", e.ID)
		}
		ids[e.ID] = true
		if _, ok := committed.Load(e.ID); !ok {
			t.Fatalf("event %s was read but never committed", e.ID)
		}
		if i > 0 && e.Position.Compare(seen[i-1].Position) <= 0 {
			t.Fatalf("positions go backwards: %s then %s", seen[i-1].Position, e.Position)
		}
	}
	committed.Range(func(id, _ any) bool {
		if !ids[id.(uuid.UUID)] {
			t.Errorf("committed event %s was never read", id)
		}
		return true
	})
	// One consistent order: a full read now gives exactly what the tailing
	// reader saw, event by event.
	var again []eventstore.RecordedEvent
	for p := (eventstore.Position{}); ; {
		batch, err := s.ReadAll(ctx, p, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		again = append(again, batch...)
		p = batch[len(batch)-1].Position
	}
	if len(again) != len(seen) {
		t.Fatalf("a full read returns %d events, the tailing reader saw %d", len(again), len(seen))
	}
	for i := range again {
		if again[i].ID != seen[i].ID || again[i].Position != seen[i].Position {
			t.Fatalf("event %d differs between the tailing read and a full read", i)
		}
	}
}

// writeOne runs one writer transaction: 1-3 events to a stream, then a
// commit, a rollback (one in five) or a commit after holding the
// transaction open for a while (one in eight).
func writeOne(ctx context.Context, s *postgres.Store, pool *pgxpool.Pool, rng *rand.Rand, stream string, committed *sync.Map, nCommit, nRollback *atomic.Int64) (eventstore.Position, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return eventstore.Position{}, err
	}
	defer tx.Rollback(ctx)
	evs := make([]eventstore.EventData, 1+rng.IntN(3))
	for i := range evs {
		evs[i] = ev("Stress")
	}
	res, err := s.AppendTx(ctx, tx, stream, eventstore.Any(), evs...)
	if err != nil {
		return eventstore.Position{}, err
	}
	switch {
	case rng.IntN(5) == 0:
		nRollback.Add(1)
		return eventstore.Position{}, tx.Rollback(ctx)
	case rng.IntN(8) == 0:
		time.Sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		return eventstore.Position{}, err
	}
	nCommit.Add(1)
	for _, e := range evs {
		committed.Store(e.ID, struct{}{})
	}
	return res.Position, nil
}

// TestPositionsKeepIncreasingAfterRestore simulates a dump restored into a
// cluster whose transaction IDs are far below the recorded ones.
func TestPositionsKeepIncreasingAfterRestore(t *testing.T) {
	s, pool := newStore(t)
	ctx := testContext(t, time.Minute)
	if _, err := s.Append(ctx, "old", eventstore.NoStream(), ev("Old"), ev("Old")); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE events SET tx_id = tx_id + 5000000000`); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	var restored eventstore.Position
	if err := pool.QueryRow(ctx, `SELECT tx_id, seq FROM events ORDER BY tx_id DESC, seq DESC LIMIT 1`).Scan(&restored.Commit, &restored.Prepare); err != nil {
		t.Fatal(err)
	}
	waitHead(t, s, restored)
	old, err := s.ReadAll(ctx, eventstore.Position{}, 10)
	if err != nil || len(old) != 2 {
		t.Fatalf("after restore the old events read as %d, err %v; want 2", len(old), err)
	}
	res, err := s.Append(ctx, "new", eventstore.NoStream(), ev("New"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Position.Compare(old[1].Position) <= 0 {
		t.Fatalf("new event at %s sorts before the restored %s", res.Position, old[1].Position)
	}
	waitHead(t, s, res.Position)
	got, err := s.ReadAll(ctx, old[1].Position, 10)
	if err != nil || len(got) != 1 || got[0].Position != res.Position {
		t.Fatalf("a reader at the last restored position reads %v, err %v; want the new event", got, err)
	}
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	pool, err := pgxpool.New(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.Open(ctx, pool); !errors.Is(err, eventstore.ErrUnavailable) || !errors.Is(err, eventstore.ErrNotWritten) {
		t.Fatalf("open: err = %v, want ErrUnavailable and ErrNotWritten: no connection, nothing sent", err)
	}
}

// TestNoConnectionIsNotWritten: an append that gets no connection from the pool in time sent
// nothing, and says so; pgxpool alone reports it as the bare context error of a statement cut short.
func TestNoConnectionIsNotWritten(t *testing.T) {
	ctx := testContext(t, time.Minute)
	_, big := newStore(t)
	cfg := big.Config()
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, group := range []int{0, postgres.DefaultGroupCommit} {
		s, err := postgres.Open(ctx, pool, postgres.GroupCommit(group))
		if err != nil {
			t.Fatal(err)
		}
		held, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stream := fmt.Sprintf("starved-%d-%s", group, uuid.NewString())
		appendCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err = s.Append(appendCtx, stream, eventstore.NoStream(), ev("Starved"))
		cancel()
		held.Release()
		if !errors.Is(err, eventstore.ErrNotWritten) || !errors.Is(err, eventstore.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("group commit %d: append without a connection: %v, want ErrNotWritten, ErrUnavailable and the deadline", group, err)
		}
		if _, err := s.ReadStream(ctx, stream, 1, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Errorf("group commit %d: read the starved append's stream: %v, want ErrStreamNotFound", group, err)
		}
	}
	// A caller that gives up while waiting is not an outage: nothing sent, but not ErrUnavailable, which
	// the command API's circuit breaker counts.
	s, err := postgres.Open(ctx, pool, postgres.GroupCommit(0))
	if err != nil {
		t.Fatal(err)
	}
	held, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	appendCtx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = s.Append(appendCtx, "abandoned-"+uuid.NewString(), eventstore.NoStream(), ev("Abandoned"))
	if !errors.Is(err, eventstore.ErrNotWritten) || !errors.Is(err, context.Canceled) || errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("append abandoned while waiting for a connection: %v, want ErrNotWritten and context.Canceled, not ErrUnavailable", err)
	}
}

func TestPageCap(t *testing.T) {
	tests := []struct {
		name     string
		n, limit int
		want     int
	}{
		{"short pages double", 16, 1000, 32},
		{"doubling stops at the limit", 16, 20, 20},
		{"a page past 256 events takes the whole limit", 256, 5000, 5000},
		{"an outsized limit keeps doubling", 256, 1_000_000, 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := postgres.PageCap(tt.n, tt.limit); got != tt.want {
				t.Errorf("pageCap(%d, %d) = %d, want %d", tt.n, tt.limit, got, tt.want)
			}
		})
	}
}

// TestReadAllUsesGenericPlan: a tailing reader's log read runs on its generic plan, not on one made
// for each call (see genericPlan); that plan reads the log's primary key in order, as a custom plan
// does; and the setting the read takes for it does not outlive the read.
func TestReadAllUsesGenericPlan(t *testing.T) {
	ctx := testContext(t, time.Minute)
	pool := oneConnection(t)
	s, err := postgres.Open(ctx, pool, postgres.GroupCommit(0))
	if err != nil {
		t.Fatal(err)
	}
	// Enough events for the planner to weigh a scan of the whole table and a sort against the index.
	var last eventstore.AppendResult
	batch := make([]eventstore.EventData, 100)
	for i := range 50 {
		for j := range batch {
			batch[j] = ev("A")
		}
		if last, err = s.Append(ctx, fmt.Sprintf("generic-%d", i), eventstore.NoStream(), batch...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	waitHead(t, s, last.Position)
	modeBefore := planCacheMode(t, pool)

	// Auto mode plans the first five calls for their arguments whatever the costs; ten calls would
	// leave at least five custom plans.
	from := eventstore.Position{}
	for range 10 {
		page, err := s.ReadAll(ctx, from, 3)
		if err != nil || len(page) == 0 {
			t.Fatalf("read the log after %s: %d events, %v", from, len(page), err)
		}
		from = page[len(page)-1].Position
	}
	if generic, custom := planCounts(t, pool, postgres.ReadAllSQL); custom != 0 || generic != 10 {
		t.Errorf("log read: %d calls on the generic plan, %d on custom plans, of 10; want 10 and 0", generic, custom)
	}
	if mode := planCacheMode(t, pool); mode != modeBefore {
		t.Errorf("plan_cache_mode after a log read: %q, want %q as before (the read's setting leaked)", mode, modeBefore)
	}
	if plan := explainGeneric(t, pool, postgres.ReadAllSQL, "0, 0, 500"); !strings.Contains(plan, "Index Scan using events_log_pkey") || strings.Contains(plan, "Sort") {
		t.Errorf("generic plan of the log read:\n%swant a scan of events_log_pkey in order, without a sort", plan)
	}
}

// oneConnection is a pool of one connection to a database of its own with the event-store
// migrations applied, so that a test's statements and its look at their session meet.
func oneConnection(t *testing.T) *pgxpool.Pool {
	_, shared := newStore(t)
	cfg := shared.Config()
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(testContext(t, time.Minute), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// planCounts tells how many calls of the statement sql, prepared on pool's one connection, ran on
// its generic plan and how many on custom ones.
func planCounts(t *testing.T, pool *pgxpool.Pool, sql string) (generic, custom int64) {
	t.Helper()
	err := pool.QueryRow(testContext(t, time.Minute), `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1`,
		sql).Scan(&generic, &custom)
	if err != nil {
		t.Fatalf("find the prepared statement: %v", err)
	}
	return generic, custom
}

func planCacheMode(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var mode string
	if err := pool.QueryRow(testContext(t, time.Minute), `SHOW plan_cache_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	return mode
}

// explainGeneric is EXPLAIN of sql's generic plan, called with args (SQL literals), through a
// statement of its own: pgx's are not named for us.
func explainGeneric(t *testing.T, pool *pgxpool.Pool, sql, args string) string {
	t.Helper()
	ctx := testContext(t, time.Minute)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, stmt := range []string{`SET LOCAL plan_cache_mode = force_generic_plan`, `PREPARE explained AS ` + sql} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	defer tx.Exec(ctx, `DEALLOCATE explained`)
	rows, err := tx.Query(ctx, `EXPLAIN EXECUTE explained(`+args+`)`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n") + "\n"
}
