package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/esdbtest"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/internal/proctest"
)

// binaries are built once per test binary by TestMain.
type binaries struct{ command, projector, query, orderctl string }

var bins binaries // set by TestMain, which has no other way to hand them over

func TestMain(m *testing.M) {
	proctest.Main(m, func(b []string) { bins = binaries{command: b[0], projector: b[1], query: b[2], orderctl: b[3]} },
		"github.com/orderflow/orderflow/cmd/command-api",
		"github.com/orderflow/orderflow/cmd/projector",
		"github.com/orderflow/orderflow/cmd/query-api",
		"github.com/orderflow/orderflow/cmd/orderctl")
}

// platform is the three services on one fresh database.
type platform struct {
	db                          string
	command, projector, queries *proctest.Process
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	return startPlatformWith(t, nil)
}

// startPlatformWith starts the platform with extra settings for the two APIs; EVENTSTORE_URL goes to
// the projector too.
func startPlatformWith(t *testing.T, apiEnv map[string]string) *platform {
	t.Helper()
	db := pgtest.NewDatabase(t)
	p := &platform{db: db}
	env := map[string]string{"DATABASE_URL": db}
	for k, v := range apiEnv {
		env[k] = v
	}
	p.command = proctest.Start(t, bins.command, env)
	projectorEnv := map[string]string{"DATABASE_URL": db, "POLL_INTERVAL": "200ms"}
	if url, ok := apiEnv["EVENTSTORE_URL"]; ok {
		projectorEnv["EVENTSTORE_URL"] = url
	}
	p.projector = proctest.Start(t, bins.projector, projectorEnv)
	p.queries = proctest.Start(t, bins.query, env)
	return p
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func call(t *testing.T, method, url string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

type written struct {
	OrderID  string `json:"order_id"`
	Version  uint64 `json:"version"`
	Position string `json:"position"`
}

// command sends a command and requires success.
func (p *platform) commandOK(t *testing.T, method, path string, body any) written {
	t.Helper()
	res := call(t, method, p.command.URL+path, body)
	if res.status/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, res.status, res.body)
	}
	var w written
	res.decode(t, &w)
	return w
}

type orderView struct {
	OrderID          string  `json:"order_id"`
	CustomerID       string  `json:"customer_id"`
	Status           string  `json:"status"`
	Currency         string  `json:"currency"`
	TotalCents       int64   `json:"total_cents"`
	ItemCount        int64   `json:"item_count"`
	PaymentReference *string `json:"payment_reference"`
	Version          uint64  `json:"version"`
	Items            []struct {
		SKU            string `json:"sku"`
		Quantity       int64  `json:"quantity"`
		LineTotalCents int64  `json:"line_total_cents"`
	} `json:"items"`
}

func positionHeader(t *testing.T, res response) eventstore.Position {
	t.Helper()
	p, err := eventstore.ParsePosition(res.header.Get("X-Projection-Position"))
	if err != nil {
		t.Fatalf("X-Projection-Position %q: %v", res.header.Get("X-Projection-Position"), err)
	}
	return p
}

// TestCommandsThenReadYourWrites drives an order through its life on the
// command API and reads every step back from the query API with
// X-Min-Position: the query side waits until the projector has caught up
// with the write, and never answers with older data.
//
// It runs on each event store: PostgreSQL (internal/pgtest: the local server, or a testcontainers
// one) and EventStoreDB (internal/esdbtest: ESDB_URL, or a testcontainers KurrentDB; skipped without
// either), with the read models in PostgreSQL.
func TestCommandsThenReadYourWrites(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { readYourWrites(t, startPlatform(t)) })
	t.Run("eventstoredb", func(t *testing.T) {
		url := esdbtest.URL(t)
		readYourWrites(t, startPlatformWith(t, map[string]string{"EVENTSTORE_URL": url}))
	})
}

func readYourWrites(t *testing.T, p *platform) {
	id := uuid.NewString()
	customer := "cust-" + uuid.NewString()[:8]

	steps := []struct {
		method, path string
		body         any
		wantStatus   string
		wantVersion  uint64
	}{
		{"POST", "/orders", map[string]any{"order_id": id, "customer_id": customer, "currency": "EUR"}, "draft", 1},
		{"POST", "/orders/" + id + "/items", map[string]any{"sku": "A", "name": "Alpha", "quantity": 2, "unit_price_cents": 1250}, "draft", 2},
		{"POST", "/orders/" + id + "/items", map[string]any{"sku": "B", "name": "Beta", "quantity": 1, "unit_price_cents": 500}, "draft", 3},
		{"PUT", "/orders/" + id + "/shipping-address", map[string]any{"name": "Ada", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}, "draft", 4},
		{"POST", "/orders/" + id + "/place", nil, "placed", 5},
		{"POST", "/orders/" + id + "/payments", map[string]any{"amount_cents": 3000, "payment_reference": "pay-1"}, "paid", 6},
	}
	for _, s := range steps {
		w := p.commandOK(t, s.method, s.path, s.body)
		if w.Version != s.wantVersion {
			t.Fatalf("%s %s: version %d, want %d", s.method, s.path, w.Version, s.wantVersion)
		}
		res := call(t, "GET", p.queries.URL+"/orders/"+id, nil, "X-Min-Position", w.Position, "X-Max-Wait-Ms", "5000")
		if res.status != http.StatusOK {
			t.Fatalf("read after %s %s: %d %s", s.method, s.path, res.status, res.body)
		}
		var o orderView
		res.decode(t, &o)
		if o.Status != s.wantStatus || o.Version != s.wantVersion {
			t.Fatalf("read after %s %s: status %s version %d, want %s %d", s.method, s.path, o.Status, o.Version, s.wantStatus, s.wantVersion)
		}
		written, _ := eventstore.ParsePosition(w.Position)
		if got := positionHeader(t, res); got.Compare(written) < 0 {
			t.Fatalf("answered at projection position %s, before the write at %s", got, written)
		}
	}

	res := call(t, "GET", p.queries.URL+"/orders/"+id, nil)
	var o orderView
	res.decode(t, &o)
	if o.TotalCents != 3000 || o.ItemCount != 3 || len(o.Items) != 2 || o.Items[0].LineTotalCents != 2500 || o.PaymentReference == nil || *o.PaymentReference != "pay-1" {
		t.Fatalf("order view = %s", res.body)
	}
	if etag := res.header.Get("ETag"); etag != `"6"` {
		t.Fatalf("ETag = %q, want \"6\"", etag)
	}
	if res := call(t, "GET", p.queries.URL+"/orders/"+id, nil, "If-None-Match", `"6"`); res.status != http.StatusNotModified {
		t.Fatalf("If-None-Match on the current version: %d, want 304", res.status)
	}

	// The other read models follow the same write, each waited for in turn.
	last := p.commandOK(t, "POST", "/orders/"+id+"/shipments", map[string]any{"carrier": "DHL", "tracking_number": "T-1"})
	res = call(t, "GET", p.queries.URL+"/customers/"+customer+"/summary?min_position="+last.Position, nil)
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `"shipped":1`) || !strings.Contains(string(res.body), `"paid_cents":3000`) {
		t.Fatalf("customer summary: %d %s", res.status, res.body)
	}
	day := time.Now().UTC().Format(time.DateOnly)
	res = call(t, "GET", p.queries.URL+"/sales/daily?from="+day+"&to="+day+"&currency=EUR", nil, "X-Min-Position", last.Position)
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `"paid_revenue_cents":3000`) {
		t.Fatalf("daily sales: %d %s", res.status, res.body)
	}
	res = call(t, "GET", p.queries.URL+"/orders?customer_id="+customer, nil, "X-Min-Position", last.Position)
	if res.status != http.StatusOK || !strings.Contains(string(res.body), id) {
		t.Fatalf("order list: %d %s", res.status, res.body)
	}

	// After that traffic, each service's /metrics shows what it did.
	for url, series := range map[string][]string{
		p.command.URL: {
			`commands_total{command="PayOrder",outcome="accepted"} 1`,
			`eventstore_operations_total{operation="append",outcome="ok"} 7`,
			`eventstore_appended_events_total 7`,
			`http_requests_total{code="201",method="POST",route="/orders"} 1`,
			`http_request_duration_seconds_count{method="POST",route="/orders/:id/items"} 2`,
		},
		p.projector.URL: {
			`projector_events_applied_total{projection="orders"} 7`,
			`projector_batch_size_count{projection="orders"}`,
			`projector_lag_events{projection="orders"}`,
			`projector_lag_seconds{projection="orders"}`,
			`projector_position{part="commit",projection="orders"}`,
			`eventstore_operations_total{operation="read_all",outcome="ok"}`,
		},
		p.queries.URL: {
			`queryapi_cache_lookups_total{result="miss"}`,
			`queryapi_cache_lookups_total{result="hit"} 2`, // the read without X-Min-Position, and the 304
			`queryapi_read_your_writes_waits_total{outcome="reached",projection="orders"}`,
			`queryapi_read_your_writes_wait_seconds_count{projection="customer_summary"} 1`,
			`http_requests_total{code="304",method="GET",route="/orders/:id"} 1`,
		},
	} {
		body := string(call(t, "GET", url+"/metrics", nil).body)
		for _, s := range series {
			if !strings.Contains(body, "\n"+s) {
				t.Errorf("%s/metrics lacks %s", url, s)
			}
		}
	}
}

// TestProjectorRestartResumes stops the projector, writes, shows the query
// side says so instead of answering with stale data, and restarts it: the
// projector resumes from its checkpoint and the waiting read is answered.
func TestProjectorRestartResumes(t *testing.T) {
	p := startPlatform(t)
	id := uuid.NewString()
	w := p.commandOK(t, "POST", "/orders", map[string]any{"order_id": id, "customer_id": "c-restart", "currency": "USD"})
	if res := call(t, "GET", p.queries.URL+"/orders/"+id, nil, "X-Min-Position", w.Position); res.status != http.StatusOK {
		t.Fatalf("first read: %d %s", res.status, res.body)
	}

	p.projector.Stop()
	w = p.commandOK(t, "POST", "/orders/"+id+"/items", map[string]any{"sku": "S", "name": "Sock", "quantity": 3, "unit_price_cents": 400})
	res := call(t, "GET", p.queries.URL+"/orders/"+id, nil, "X-Min-Position", w.Position, "X-Max-Wait-Ms", "300")
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("read-your-writes with the projector down: %d (Retry-After %q), want 503 with Retry-After", res.status, res.header.Get("Retry-After"))
	}
	if res := call(t, "GET", p.queries.URL+"/orders/"+id, nil); res.status != http.StatusOK || !strings.Contains(string(res.body), `"version":1`) {
		t.Fatalf("a read without X-Min-Position answers at once with what is projected: %d %s", res.status, res.body)
	}

	done := make(chan response, 1)
	go func() {
		done <- call(t, "GET", p.queries.URL+"/orders/"+id, nil, "X-Min-Position", w.Position, "X-Max-Wait-Ms", "20000")
	}()
	p.projector = proctest.Start(t, bins.projector, map[string]string{"DATABASE_URL": p.db})
	res = <-done
	if res.status == http.StatusServiceUnavailable {
		// The query API caps a wait at 5 s, and a start-up on a loaded machine has taken longer:
		// the read is answered once the projector has caught up, which a second wait shows.
		res = call(t, "GET", p.queries.URL+"/orders/"+id, nil, "X-Min-Position", w.Position, "X-Max-Wait-Ms", "5000")
	}
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `"version":2`) {
		t.Fatalf("read waiting across the projector restart: %d %s", res.status, res.body)
	}

	var projections struct {
		Projections []struct {
			Name      string  `json:"name"`
			Position  string  `json:"position"`
			LastError *string `json:"last_error"`
		} `json:"projections"`
	}
	call(t, "GET", p.queries.URL+"/projections?min_position="+w.Position, nil).decode(t, &projections)
	if len(projections.Projections) != 4 {
		t.Fatalf("projections = %+v, want 4", projections.Projections)
	}
	for _, pr := range projections.Projections {
		if pr.Position != w.Position {
			t.Errorf("projection %s at %s, want the last write %s", pr.Name, pr.Position, w.Position)
		}
	}
}
