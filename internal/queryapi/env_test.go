package queryapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/eventstore/postgres"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
	"github.com/orderflow/orderflow/migrations"
)

// testMaxWait is the API's wait ceiling in these tests: long enough for a wake-up to be told apart
// from a timeout, short enough to keep the timeouts quick.
const testMaxWait = 3 * time.Second

// env is a query API on a fresh database with the read-model schema, and a listening broker.
type env struct {
	t       *testing.T
	pool    *pgxpool.Pool
	api     *echo.Echo
	broker  *readmodel.Broker
	queries *atomic.Int64 // statements the Store has sent
	metrics *prometheus.Registry
	events  *postgres.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := migrations.Up(ctx, url, migrations.ReadModel()); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, url, migrations.EventStore()); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	counter := &countingDB{pool: pool, n: new(atomic.Int64)}
	store := readmodel.NewStore(counter, 5*time.Second)
	// The broker reads checkpoints on its own schedule: through a store of its own, so that e.queries
	// counts the API's statements only.
	broker, err := readmodel.NewBroker(url, readmodel.NewStore(pool, 5*time.Second), readmodel.BrokerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = broker.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	for broker.Ready(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatal("broker did not start listening")
		}
		time.Sleep(5 * time.Millisecond)
	}

	events, err := postgres.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, pool: pool, broker: broker, queries: counter.n, events: events, metrics: prometheus.NewRegistry()}
	metrics, err := NewMetrics(e.metrics)
	if err != nil {
		t.Fatal(err)
	}
	e.api = New(Config{
		Metrics:    metrics,
		ReadModels: store,
		Progress:   broker,
		Events:     events,
		Ready:      map[string]httpapi.Check{"database": pool.Ping, "listener": broker.Ready},
		MaxWait:    testMaxWait,
		CacheTTL:   time.Minute, // expiry has its own unit test; here entries must outlive the test
		Logger:     slog.New(slog.DiscardHandler),
	})
	return e
}

// countingDB counts the statements the Store sends, transactions' included.
type countingDB struct {
	pool *pgxpool.Pool
	n    *atomic.Int64
}

func (c *countingDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.n.Add(1)
	return c.pool.QueryRow(ctx, sql, args...)
}

func (c *countingDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.n.Add(1)
	return c.pool.Query(ctx, sql, args...)
}

func (c *countingDB) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	c.n.Add(1)
	return c.pool.BeginTx(ctx, opts)
}

// exec runs SQL as the projector would, in one transaction with a deadline.
func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.pool.Exec(ctx, sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// checkpoint sets a projection's checkpoint; with notify it also sends the projector's
// notification, in the same transaction, as the projector does.
func (e *env) checkpoint(name, position string, notify bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (name, schema_version, position, updated_at)
VALUES ($1, 1, $2, now()) ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()`, name, position)
		if err == nil && notify {
			_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", readmodel.Channel, name+":"+position)
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// orderRow is an rm_orders row to insert: zero fields take plausible values.
type orderRow struct {
	id         uuid.UUID
	customer   string
	status     string
	total      int64
	version    int64
	position   string
	createdAt  time.Time
	address    bool
	cancelNote string
}

// insertOrder inserts an order row, returning its ID.
func (e *env) insertOrder(o orderRow) uuid.UUID {
	e.t.Helper()
	if o.id == uuid.Nil {
		o.id = uuid.New()
	}
	if o.customer == "" {
		o.customer = "cust-1"
	}
	if o.status == "" {
		o.status = "draft"
	}
	if o.version == 0 {
		o.version = 1
	}
	if o.position == "" {
		o.position = "1:0"
	}
	if o.createdAt.IsZero() {
		o.createdAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	}
	var ship []any
	if o.address {
		ship = []any{"Ada Lovelace", "1 Main St", nil, "Berlin", "10115", "DE"}
	} else {
		ship = []any{nil, nil, nil, nil, nil, nil}
	}
	var cancel any
	if o.cancelNote != "" {
		cancel = o.cancelNote
	}
	e.exec(`INSERT INTO rm_orders (order_id, customer_id, status, currency, total_cents, item_count, line_count,
	ship_name, ship_line1, ship_line2, ship_city, ship_postal_code, ship_country, cancel_reason,
	version, position, created_at, updated_at)
VALUES ($1, $2, $3, 'EUR', $4, 0, 0, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)`,
		append(append([]any{o.id, o.customer, o.status, o.total}, ship...), cancel, o.version, o.position, o.createdAt)...)
	return o.id
}

// response is a recorded response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// get sends a GET; headers alternate names and values.
func (e *env) get(path string, headers ...string) response {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// expect checks the status and decodes the body into v (unless nil).
func (r response) expect(t *testing.T, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// position returns X-Projection-Position.
func (r response) position() string { return r.header.Get(HeaderProjectionPosition) }

// problem checks that r is a problem of the status and type (slug) and returns the names of its
// invalid fields.
func (r response) problem(t *testing.T, status int, slug string) []string {
	t.Helper()
	var p httpapi.Problem
	r.expect(t, status, &p)
	if ct := r.header.Get("Content-Type"); ct != httpapi.MediaTypeProblem {
		t.Errorf("Content-Type %q, want %q", ct, httpapi.MediaTypeProblem)
	}
	if p.Type != httpapi.ProblemTypeBase+slug || p.Status != status || p.Title == "" {
		t.Errorf("problem %+v, want type %s", p, slug)
	}
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field)
	}
	return fields
}
