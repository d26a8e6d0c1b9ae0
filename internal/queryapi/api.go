// Package queryapi is the query side's REST API: read-only endpoints over the read models the
// projector keeps in PostgreSQL (internal/queryapi/readmodel), on echo, with RFC 9457 problem
// responses (internal/httpapi maps errors to statuses). Its contract is the OpenAPI document
// openapi.json in this package, served at /openapi.json; a test keeps the two in step.
//
// The read models lag the event log. The API makes that visible rather than hiding it:
//
//   - every read answers with X-Projection-Position, the position in the log its data reflects;
//   - a client that has just written sends the position the command API gave it, as X-Min-Position
//     or ?min_position=, and the API waits (no polling: see readmodel.Broker) until the projection it
//     reads has got there, for up to X-Max-Wait-Ms (default and ceiling: Config.MaxWait). If the bound
//     passes first the answer is a 503 with Retry-After. Without the header it answers at once.
//
// The audit trail reads the event store itself, the source of truth: an order's history
// (GET /orders/{id}/history), its timeline as an HTML page for people (GET /orders/{id}/timeline) and
// the order as it was at a version or a time (GET /orders/{id}?as_of_version= or ?as_of=), rebuilt by
// the domain's own code. GET /audit lists who did what across all orders, from the audit_log read
// model.
//
// Single-order reads, the hot path, go through a small in-process cache (see orderCache). Any number
// of replicas can serve the API; each holds one LISTEN connection.
package queryapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// Headers of the consistency protocol.
const (
	// HeaderProjectionPosition is the position in the log the response's data reflects.
	HeaderProjectionPosition = "X-Projection-Position"
	// HeaderMinPosition asks for data at this position or later (or ?min_position=).
	HeaderMinPosition = "X-Min-Position"
	// HeaderMaxWait bounds the wait for HeaderMinPosition, in milliseconds.
	HeaderMaxWait = "X-Max-Wait-Ms"
)

// reader reads the read models: *readmodel.Store. Each read returns the position its data reflects.
type reader interface {
	orderSource
	// Orders returns a page of orders; it fails for a limit outside 1..readmodel.MaxOrdersPerPage.
	Orders(ctx context.Context, f readmodel.OrderFilter) (readmodel.OrderPage, eventstore.Position, error)
	// CustomerSummary returns an error wrapping readmodel.ErrCustomerNotFound, with the position, for
	// a customer it does not know.
	CustomerSummary(ctx context.Context, customerID string) (*readmodel.CustomerSummary, eventstore.Position, error)
	// DailySales fails for a range of more than readmodel.MaxSalesDays days.
	DailySales(ctx context.Context, f readmodel.SalesFilter) ([]readmodel.DailySales, eventstore.Position, error)
	// AuditLog returns a page of the audit log; it fails for a limit outside 1..readmodel.MaxAuditPerPage.
	AuditLog(ctx context.Context, f readmodel.AuditFilter) (readmodel.AuditPage, eventstore.Position, error)
	Projections(ctx context.Context) ([]readmodel.Projection, error)
}

// orderSource loads one order: *readmodel.Store. An order not in the read model is an error wrapping
// domain.ErrOrderNotFound, returned with the position at which it was not there.
type orderSource interface {
	Order(ctx context.Context, id uuid.UUID) (*readmodel.Order, eventstore.Position, error)
}

// progress waits for projections: *readmodel.Broker. Wait returns an error wrapping
// readmodel.ErrNotReached, with the last position it knows, when patience runs out first.
type progress interface {
	Wait(ctx context.Context, projection string, want eventstore.Position, patience time.Duration) (eventstore.Position, error)
}

// Config holds what the API is built from.
type Config struct {
	ReadModels reader
	Progress   progress
	// Events reads order streams for the audit trail: the event store behind a circuit breaker.
	Events streamReader
	// StoreTimeout bounds each event-store read (default 5 s).
	StoreTimeout time.Duration
	// Ready are the checks of GET /readyz, by name.
	Ready map[string]httpapi.Check
	// ReadyTimeout bounds the readiness checks (default 2 s).
	ReadyTimeout time.Duration
	// MaxWait is the default and the ceiling of X-Max-Wait-Ms (default 5 s).
	MaxWait time.Duration
	// RequestTimeout is every request's deadline, waiting included (default MaxWait + 5 s). It
	// should exceed MaxWait, or long waits end as timeouts rather than as "not reached" 503s.
	RequestTimeout time.Duration
	// CacheTTL is how long a cached order may be served: each entry lives between CacheTTL and twice
	// that, at random (default 1 s).
	CacheTTL time.Duration
	// CacheSize caps the cached orders (default 10,000).
	CacheSize int
	// CacheBytes caps the cached orders' size, encoded, with some bookkeeping per order (default
	// 8 MiB). An order larger than an eighth of it is not cached.
	CacheBytes int
	// Guard bounds requests in flight, authenticates and rate-limits (zero: none of these).
	Guard  httpapi.Guard
	Logger *slog.Logger
	// TracerProvider makes the requests' server spans; nil makes none.
	TracerProvider trace.TracerProvider
	// Metrics receives the API's metrics; nil keeps them unregistered.
	Metrics *Metrics
}

// New returns the API's handler, with its routes and middleware.
func New(cfg Config) *echo.Echo {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = cfg.MaxWait + 5*time.Second
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10_000
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = 8 << 20
	}

	if cfg.Metrics == nil {
		// A fresh registry cannot refuse them.
		cfg.Metrics, _ = NewMetrics(prometheus.NewRegistry())
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = httpapi.NewErrorHandler(cfg.Logger)
	// X-Forwarded-For is trusted only from loopback and private addresses (the load balancer).
	e.IPExtractor = echo.ExtractIPFromXFFHeader()
	e.Use(
		httpapi.Trace(cfg.TracerProvider),
		cfg.Metrics.http.Middleware(),
		httpapi.AccessLog(cfg.Logger),
		httpapi.RequestMeta(),
		httpapi.Timeout(cfg.RequestTimeout),
	)
	e.Use(cfg.Guard.Middleware()...)

	h := &handlers{
		read:         cfg.ReadModels,
		progress:     cfg.Progress,
		orders:       newOrderCache(cfg.ReadModels, cfg.CacheTTL, cfg.CacheSize, cfg.CacheBytes, cfg.RequestTimeout, time.Now),
		maxWait:      cfg.MaxWait,
		events:       cfg.Events,
		storeTimeout: cfg.StoreTimeout,
		metrics:      cfg.Metrics,
	}
	h.orders.lookups = cfg.Metrics.cacheLookup
	e.GET("/orders/:id", h.getOrder)
	e.GET("/orders/:id/history", h.orderHistory)
	e.GET("/orders/:id/timeline", h.orderTimeline)
	e.GET("/orders", h.listOrders)
	e.GET("/customers/:id/summary", h.customerSummary)
	// Orders (their history and timeline too) and summaries check ownership in their handlers; the
	// rest is not a customer's to see. The audit log names every actor: admins only.
	e.GET("/sales/daily", h.dailySales, auth.RequireRole(auth.Staff))
	e.GET("/projections", h.projections, auth.RequireRole(auth.Admin))
	e.GET("/audit", h.auditLog, auth.RequireRole(auth.Admin))

	e.GET("/healthz", httpapi.Healthz)
	e.GET("/readyz", httpapi.Readyz(cfg.Ready, cfg.ReadyTimeout, cfg.Logger))
	e.GET("/openapi.json", serveOpenAPI)
	return e
}

func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
