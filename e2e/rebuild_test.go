package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
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
	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/internal/proctest"
	"github.com/orderflow/orderflow/projections"
	"github.com/orderflow/orderflow/projections/projectiontest"
)

// TestRebuildUnderLoad rebuilds every projection blue-green with `projector rebuild --all` while
// commands are sent and queries run against the three services: no query fails or sees its
// projection's position go back, the running projector carries the rebuilds out and keeps the live
// copies following the log, and each rebuilt copy equals the live one at the same position.
func TestRebuildUnderLoad(t *testing.T) {
	db := pgtest.NewDatabase(t)
	env := map[string]string{"DATABASE_URL": db}
	p := &platform{db: db}
	p.command = proctest.Start(t, bins.command, env)
	// Small rebuild batches, so that the build spans many batches of live traffic.
	p.projector = proctest.Start(t, bins.projector, map[string]string{"DATABASE_URL": db, "POLL_INTERVAL": "200ms",
		"REBUILD_BATCH_SIZE": "25", "PROJECTOR_ID": "e2e-rebuild"})
	p.queries = proctest.Start(t, bins.query, env)

	pool, err := pgxpool.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	seedHistories(t, pool, 250) // a log worth rebuilding, appended directly: commands would take long
	// Reads start once the seeded log is projected: before that, customer c1 is rightly not found yet
	// (the reads of a failed run were all 404s at 0:0, made before the first batch), and the test is
	// about the rebuild, not the first catch-up.
	projectiontest.WaitCaughtUp(t, pool, pool, 30*time.Second, allProjections()...)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var commands atomic.Int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := uuid.NewString()
			p.commandOK(t, "POST", "/orders", map[string]any{"order_id": id, "customer_id": "c-live", "currency": "EUR"})
			p.commandOK(t, "POST", "/orders/"+id+"/items", map[string]any{"sku": "A", "name": "Alpha", "quantity": 1, "unit_price_cents": 700})
			commands.Add(2)
		}
	})
	day := time.Now().UTC().Format(time.DateOnly)
	queries := []*query{
		{path: "/orders?limit=5"},
		{path: "/orders?customer_id=c1&limit=5"},
		{path: "/customers/c1/summary"},
		{path: "/sales/daily?from=" + day + "&to=" + day},
	}
	for _, q := range queries {
		wg.Go(func() { q.run(p.queries.URL, stop) })
	}

	rb := proctest.Launch(t, bins.projector, map[string]string{"DATABASE_URL": db}, "rebuild", "--all")
	if code := rb.ExitCode(); code != 0 {
		t.Fatalf("projector rebuild --all: exit %d\n%s", code, rb.Logs())
	}
	time.Sleep(200 * time.Millisecond) // traffic after the switch too
	close(stop)
	wg.Wait()
	for _, q := range queries {
		t.Logf("%s: %d reads, positions %s to %s", q.path, q.reads, q.first, q.last)
		for _, err := range q.errs {
			t.Errorf("%s: %v", q.path, err)
		}
	}
	if n := commands.Load(); n == 0 {
		t.Error("no commands during the rebuild")
	}
	if got := strings.Count(rb.Stdout(), "rebuilt, generation 2"); got != 4 {
		t.Errorf("projector rebuild --all output, %d projections rebuilt:\n%s", got, rb.Stdout())
	}
	if !strings.Contains(p.projector.Logs(), "switched to the rebuilt copy") {
		t.Error("the running projector did not carry the rebuilds out")
	}

	// On a quiet log: rebuild again, keeping the old copies (generation 2, rebuilt under load and live
	// since), and compare them with the new ones at the same position.
	projectiontest.WaitCaughtUp(t, pool, pool, 20*time.Second, allProjections()...)
	rb = proctest.Launch(t, bins.projector, map[string]string{"DATABASE_URL": db}, "rebuild", "--all", "--keep-old")
	if code := rb.ExitCode(); code != 0 {
		t.Fatalf("projector rebuild --all --keep-old: exit %d\n%s", code, rb.Logs())
	}
	for _, pr := range projections.All() {
		for _, table := range pr.Tables() {
			old := pgx.Identifier{"retired_" + pr.Name() + "_2", table}.Sanitize()
			var rows, differ int
			if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM `+table+`),
    (SELECT count(*) FROM ((TABLE `+table+` EXCEPT ALL TABLE `+old+`) UNION ALL (TABLE `+old+` EXCEPT ALL TABLE `+table+`)) d)`).
				Scan(&rows, &differ); err != nil {
				t.Fatal(err)
			}
			if rows == 0 || differ != 0 {
				t.Errorf("%s: %d rows, %d differ between the rebuilt and the live copy", table, rows, differ)
			}
		}
	}
}

func allProjections() []string {
	var names []string
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	return names
}

// seedHistories appends n random order histories to the event store, a history per append.
func seedHistories(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := postgres.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(41, 42))
	for i := range n {
		id := uuid.New()
		h := ordergen.History(rng, id, fmt.Sprint("c", i%5), "EUR", time.Now())
		if _, err := store.Append(ctx, projectiontest.Stream(id), eventstore.NoStream(),
			projectiontest.Encode(t, eventstore.Metadata{Actor: "seed"}, h...)...); err != nil {
			t.Fatal(err)
		}
	}
}

// query runs one GET against the query API until stopped, and records every failure and every
// response whose X-Projection-Position is behind an earlier one's.
type query struct {
	path        string
	reads       int
	first, last eventstore.Position
	errs        []error
}

func (q *query) run(base string, stop <-chan struct{}) {
	for len(q.errs) < 10 {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+q.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			q.errs = append(q.errs, err)
			continue
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		q.reads++
		if res.StatusCode != http.StatusOK {
			q.errs = append(q.errs, fmt.Errorf("%d %s", res.StatusCode, body))
			continue
		}
		pos, err := eventstore.ParsePosition(res.Header.Get("X-Projection-Position"))
		switch {
		case err != nil:
			q.errs = append(q.errs, err)
		case pos.Compare(q.last) < 0:
			q.errs = append(q.errs, fmt.Errorf("position went back from %s to %s", q.last, pos))
		default:
			if q.reads == 1 {
				q.first = pos
			}
			q.last = pos
		}
	}
}
