package queryapi

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// getLater sends a GET from a goroutine and returns where its response will arrive.
func (e *env) getLater(path string, headers ...string) <-chan response {
	ch := make(chan response, 1)
	go func() { ch <- e.get(path, headers...) }()
	return ch
}

// waitForWaiters returns once n requests wait in the broker, so that what the test does next
// happens while they wait, not before.
func (e *env) waitForWaiters(n int) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.broker.Waiting() < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d requests waiting, want %d", e.broker.Waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReadYourWrites(t *testing.T) {
	e := newEnv(t)
	e.checkpoint(readmodel.ProjectionOrders, "10:0", false)
	id := e.insertOrder(orderRow{version: 1, position: "10:0"})
	orderPath := "/orders/" + id.String()

	t.Run("already there: at once", func(t *testing.T) {
		for query, headers := range map[string][]string{
			"":                 {HeaderMinPosition, "10:0"},
			"?min_position=9":  nil,
			"?min_position=10": {HeaderMinPosition, "10:0"}, // the same position, spelled two ways
		} {
			r := e.get(orderPath+query, headers...)
			if r.status != 200 || r.position() != "10:0" {
				t.Errorf("%s %v: %d at %s", query, headers, r.status, r.position())
			}
		}
	})

	t.Run("the projection catches up while the request waits", func(t *testing.T) {
		start := time.Now()
		later := e.getLater(orderPath, HeaderMinPosition, "12:4")
		e.waitForWaiters(1)
		// The projector's batch: the order and the checkpoint in one transaction, then the NOTIFY.
		e.exec(`UPDATE rm_orders SET version = 2, status = 'placed', position = '12:4' WHERE order_id = $1`, id)
		e.checkpoint(readmodel.ProjectionOrders, "12:4", true)
		r := <-later
		var got readmodel.Order
		r.expect(t, 200, &got)
		if got.Version != 2 || got.Status != "placed" || r.position() != "12:4" || r.header.Get("ETag") != `"2"` {
			t.Errorf("version %d, status %s at %s", got.Version, got.Status, r.position())
		}
		if d := time.Since(start); d > testMaxWait/2 {
			t.Errorf("answered after %v: the notification did not wake the request", d)
		}
	})

	t.Run("a later notification for another projection does not wake it", func(t *testing.T) {
		later := e.getLater(orderPath, HeaderMinPosition, "13:0", HeaderMaxWait, "400")
		e.waitForWaiters(1)
		e.checkpoint(readmodel.ProjectionDailySales, "99:0", true)
		e.checkpoint(readmodel.ProjectionOrders, "12:9", true) // progress, but not enough
		r := <-later
		r.problem(t, 503, "projection-behind")
		if r.position() != "12:9" {
			t.Errorf("X-Projection-Position %q, want the last one notified", r.position())
		}
	})

	t.Run("timeout: 503 with Retry-After", func(t *testing.T) {
		start := time.Now()
		r := e.get(orderPath, HeaderMinPosition, "50:0", HeaderMaxWait, "300")
		r.problem(t, 503, "projection-behind")
		if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
			t.Errorf("answered after %v, want about 300ms", d)
		}
		if r.header.Get("Retry-After") == "" || r.position() != "12:9" {
			t.Errorf("Retry-After %q, X-Projection-Position %q", r.header.Get("Retry-After"), r.position())
		}
	})

	t.Run("X-Max-Wait-Ms 0 checks once", func(t *testing.T) {
		e.get(orderPath, HeaderMinPosition, "50:0", HeaderMaxWait, "0").problem(t, 503, "projection-behind")
		if r := e.get(orderPath, HeaderMinPosition, "12:9", HeaderMaxWait, "0"); r.status != 200 {
			t.Errorf("reached position with no wait: %d", r.status)
		}
	})

	t.Run("X-Max-Wait-Ms above the ceiling is lowered to it", func(t *testing.T) {
		start := time.Now()
		e.get(orderPath+"?min_position=50:0", HeaderMaxWait, "3600000").problem(t, 503, "projection-behind")
		if d := time.Since(start); d < testMaxWait || d > testMaxWait+2*time.Second {
			t.Errorf("answered after %v, want the ceiling %v", d, testMaxWait)
		}
	})

	t.Run("progress without a notification wakes nobody: it is read at the bound, no polling", func(t *testing.T) {
		start := time.Now()
		later := e.getLater(orderPath, HeaderMinPosition, "14:0", HeaderMaxWait, "500")
		e.waitForWaiters(1)
		e.checkpoint(readmodel.ProjectionOrders, "14:0", false)
		r := <-later
		if d := time.Since(start); r.status != 200 || r.position() != "14:0" || d < 500*time.Millisecond {
			t.Errorf("%d at %s after %v, want 200 at 14:0 once the 500 ms had passed", r.status, r.position(), d)
		}
		// What that read found is known from then on.
		start = time.Now()
		if r := e.get(orderPath, HeaderMinPosition, "14:0"); r.status != 200 || r.position() != "14:0" || time.Since(start) > 250*time.Millisecond {
			t.Errorf("%d at %s after %v, want 200 at 14:0 at once", r.status, r.position(), time.Since(start))
		}
	})

	t.Run("every endpoint waits for its own projection", func(t *testing.T) {
		e.exec(`INSERT INTO rm_customer_summaries (customer_id, orders_total, draft, updated_at) VALUES ('cust-1', 1, 1, now())`)
		e.checkpoint(readmodel.ProjectionCustomerSummary, "1:0", false)
		e.checkpoint(readmodel.ProjectionDailySales, "1:0", false)
		// Above 99:0, which a subtest above notified for daily_sales: the broker would answer that
		// from what it was told, and the checkpoint here moved back, as it never does outside tests.
		list := e.getLater("/orders?customer_id=cust-1", HeaderMinPosition, "120:0")
		summary := e.getLater("/customers/cust-1/summary", HeaderMinPosition, "120:0")
		sales := e.getLater("/sales/daily?from=2026-03-01&to=2026-03-31&min_position=120:0")
		projections := e.getLater("/projections", HeaderMinPosition, "120:0")
		e.waitForWaiters(4) // /projections waits for one projection at a time
		for _, name := range []string{readmodel.ProjectionOrders, readmodel.ProjectionCustomerSummary, readmodel.ProjectionDailySales} {
			e.checkpoint(name, "120:0", true)
		}
		for name, ch := range map[string]<-chan response{"list": list, "summary": summary, "sales": sales, "projections": projections} {
			if r := <-ch; r.status != 200 || r.position() != "120:0" {
				t.Errorf("%s: %d at %q: %s", name, r.status, r.position(), r.body)
			}
		}
	})
}

// TestColdReadsShareOneQuery: 50 concurrent reads of an order that is not cached make one query
// between them, and the cache serves what follows until a read asks for a later position.
func TestColdReadsShareOneQuery(t *testing.T) {
	e := newEnv(t)
	e.checkpoint(readmodel.ProjectionOrders, "5:0", false)
	id := e.insertOrder(orderRow{version: 3, position: "5:0"})
	orderPath := "/orders/" + id.String()

	const n = 50
	before := e.queries.Load()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		got   = make([]response, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			got[i] = e.get(orderPath)
		})
	}
	close(start)
	wg.Wait()
	if q := e.queries.Load() - before; q != 1 {
		t.Errorf("%d concurrent cold reads made %d queries, want 1", n, q)
	}
	for i, r := range got {
		if r.status != 200 || !bytes.Equal(r.body, got[0].body) || r.header.Get("ETag") != `"3"` {
			t.Fatalf("read %d: %d %s", i, r.status, r.body)
		}
	}

	// Cached: no query, even as the order changes underneath.
	e.exec(`UPDATE rm_orders SET version = 4, position = '6:0' WHERE order_id = $1`, id)
	e.checkpoint(readmodel.ProjectionOrders, "6:0", true)
	before = e.queries.Load()
	if r := e.get(orderPath, "If-None-Match", `"3"`); r.status != 304 || e.queries.Load() != before {
		t.Errorf("cached read: %d, %d queries", r.status, e.queries.Load()-before)
	}
	// A read that needs a later position than the cached one reads again, and refreshes the entry.
	if r := e.get(orderPath, HeaderMinPosition, "6:0"); r.status != 200 || r.header.Get("ETag") != `"4"` {
		t.Errorf("read at 6:0: %d %s", r.status, r.header.Get("ETag"))
	}
	before = e.queries.Load()
	if r := e.get(orderPath); r.header.Get("ETag") != `"4"` || e.queries.Load() != before {
		t.Errorf("after the refresh: ETag %s, %d queries", r.header.Get("ETag"), e.queries.Load()-before)
	}
}

// TestUnavailableDatabase: reads from a database that cannot be reached are 503s.
func TestUnavailableDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// Nothing listens on port 1.
	pool, err := pgxpool.New(ctx, "postgres://user:pw@127.0.0.1:1/db?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	e := &env{t: t, api: New(Config{ReadModels: readmodel.NewStore(pool, time.Second), Logger: slog.New(slog.DiscardHandler)})}
	for _, p := range []string{"/orders/" + uuid.NewString(), "/orders", "/projections", "/customers/x/summary", "/sales/daily?from=2026-01-01&to=2026-01-02"} {
		r := e.get(p)
		r.problem(t, 503, "service-unavailable")
		if retry, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || retry < 1 {
			t.Errorf("%s: Retry-After %q", p, r.header.Get("Retry-After"))
		}
		if bytes.Contains(r.body, []byte("127.0.0.1")) {
			t.Errorf("%s: the problem shows the cause: %s", p, r.body)
		}
	}
}

// TestReadBehindNotifiedPosition: after a crash of the database server the read model can be behind
// a position already notified (projections commit asynchronously), while the broker still knows the
// notified one. A request for that position then gets a 503 at the position the read found, not
// older data, nor a 404 for an order the lost batches had written. (An order cached at the notified
// position is still served: it is what the log says at that position, and the projector writes it
// again.)
func TestReadBehindNotifiedPosition(t *testing.T) {
	e := newEnv(t)
	cached := e.insertOrder(orderRow{version: 1, position: "10:0"})
	other := e.insertOrder(orderRow{version: 1, position: "10:0"})
	e.checkpoint(readmodel.ProjectionOrders, "20:0", true)
	if r := e.get("/orders/"+cached.String(), HeaderMinPosition, "20:0"); r.status != 200 || r.position() != "20:0" {
		t.Fatalf("at the notified position: %d at %s", r.status, r.position())
	}

	e.checkpoint(readmodel.ProjectionOrders, "15:0", false) // the server came back without the last batches
	for _, path := range []string{"/orders/" + other.String(), "/orders/" + uuid.NewString(), "/orders?customer_id=cust-1"} {
		r := e.get(path, HeaderMinPosition, "20:0", HeaderMaxWait, "100")
		r.problem(t, 503, "projection-behind")
		if r.position() != "15:0" {
			t.Errorf("%s: X-Projection-Position %q, want 15:0, where the read found the data", path, r.position())
		}
	}
	if r := e.get("/orders/"+other.String(), HeaderMinPosition, "15:0"); r.status != 200 || r.position() != "15:0" {
		t.Errorf("at the position there is: %d at %s", r.status, r.position())
	}
}
