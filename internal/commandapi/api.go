// Package commandapi is the command side's REST API: one endpoint per order command, on echo, with
// idempotency keys, If-Match preconditions and RFC 9457 problem responses (see internal/httpapi for
// the error mapping). Its contract is the OpenAPI document openapi.json in this package, served at
// /openapi.json; a test keeps the two in step.
//
// The API keeps no state of its own between requests: commands go to internal/command, which keeps
// orders in the event store, and idempotency records live in PostgreSQL. Any number of replicas can
// serve it.
package commandapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/idempotency"
)

// MaxBodyBytes is the largest request body accepted (64 KiB); larger ones are a 413.
const MaxBodyBytes = 64 << 10

// executor runs commands: *command.Service.
type executor interface {
	Execute(ctx context.Context, req command.Request) (command.Result, error)
}

// keyStore runs a request once per idempotency key: *idempotency.Store.
type keyStore interface {
	Do(ctx context.Context, key string, requestHash []byte, run func(context.Context) (idempotency.Response, bool)) (idempotency.Response, bool, error)
}

// Config holds what the API is built from.
type Config struct {
	Commands executor
	// Idempotency records responses to requests with an Idempotency-Key. Without it (in tests) keys
	// still make event IDs deterministic, but responses are not replayed.
	Idempotency keyStore
	// Ready are the checks of GET /readyz, by name.
	Ready map[string]httpapi.Check
	// ReadyTimeout bounds the readiness checks (default 2 s).
	ReadyTimeout time.Duration
	// RequestTimeout is every request's deadline (default 10 s).
	RequestTimeout time.Duration
	// Guard bounds requests in flight, authenticates and rate-limits (zero: none of these).
	Guard  httpapi.Guard
	Logger *slog.Logger
	// TracerProvider makes the requests' server spans; nil makes none, yet passes callers' trace
	// context on into event metadata.
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
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}

	if cfg.Metrics == nil {
		// A fresh registry cannot refuse them.
		cfg.Metrics, _ = NewMetrics(prometheus.NewRegistry())
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = httpapi.NewErrorHandler(cfg.Logger)
	// Behind the load balancer the client's address is in X-Forwarded-For, trusted only when it comes
	// from a loopback or private address: a client cannot pick its own rate-limit bucket.
	e.IPExtractor = echo.ExtractIPFromXFFHeader()
	e.Use(
		httpapi.Trace(cfg.TracerProvider),
		cfg.Metrics.http.Middleware(),
		httpapi.AccessLog(cfg.Logger),
		httpapi.RequestMeta(),
		httpapi.Timeout(cfg.RequestTimeout),
		httpapi.BodyLimit(MaxBodyBytes),
	)
	e.Use(cfg.Guard.Middleware()...)

	h := &handlers{commands: cfg.Commands}
	var once echo.MiddlewareFunc = func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	if cfg.Idempotency != nil {
		once = idempotent(cfg.Idempotency)
	}
	json := httpapi.RequireJSON()

	count := cfg.Metrics.count
	e.POST("/orders", h.createOrder, count("CreateOrder"), json, once)
	e.POST("/orders/:id/items", h.addItem, count("AddItem"), json, once)
	e.DELETE("/orders/:id/items/:sku", h.removeItem, count("RemoveItem"), once)
	e.PUT("/orders/:id/shipping-address", h.setShippingAddress, count("SetShippingAddress"), json, once)
	e.POST("/orders/:id/place", h.placeOrder, count("PlaceOrder"), once)
	e.POST("/orders/:id/payments", h.payOrder, count("PayOrder"), json, once)
	// Shipping is the shop's business, not the customer's.
	staff := auth.RequireRole(auth.Staff)
	e.POST("/orders/:id/shipments", h.shipOrder, count("ShipOrder"), staff, json, once)
	e.POST("/orders/:id/deliver", h.deliverOrder, count("DeliverOrder"), staff, once)
	e.POST("/orders/:id/cancel", h.cancelOrder, count("CancelOrder"), json, once)

	e.GET("/healthz", httpapi.Healthz)
	e.GET("/readyz", httpapi.Readyz(cfg.Ready, cfg.ReadyTimeout, cfg.Logger))
	e.GET("/openapi.json", serveOpenAPI)
	return e
}

func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
