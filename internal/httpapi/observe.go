package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/orderflow/orderflow/internal/telemetry"
)

// unmatchedRoute labels requests that matched no route, so that scanners probing random paths
// cannot grow the metrics' label sets.
const unmatchedRoute = "unmatched"

// route returns the route template the request matched, such as "/orders/:id", never the raw path.
// echo sets it from its routing tree even for a 404 or 405 under a known prefix; for a request that
// matched nothing it is empty.
func route(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return unmatchedRoute
}

// Trace starts a server span per request with otelhttp, wrapped for echo (otelecho is deprecated
// upstream). The incoming W3C trace context, if any, is its parent. The span is named after the
// method and the route template, as OpenTelemetry's HTTP conventions ask, and otelhttp records the
// status; /healthz, /readyz and /metrics get no span. Its own metrics are off, the Prometheus ones in Metrics stand in for them. It must run
// before AccessLog, so that the access log line and the error handler see the span.
//
// With tracing off (a nil or no-op provider) there is no span to make, and the only thing otelhttp
// would still do that anyone sees is put the caller's trace context into the request's context, for
// the logs and the events' metadata. Trace then does just that: otelhttp's per-request attribute
// sets and writer wrappers cost even with no-op providers, about half the allocations of a cached
// GET /orders/{id} (BenchmarkGetOrderHit in internal/queryapi).
func Trace(tp trace.TracerProvider) echo.MiddlewareFunc {
	if _, off := tp.(noop.TracerProvider); off || tp == nil {
		return propagate
	}
	wrapped := echo.WrapMiddleware(otelhttp.NewMiddleware("http.server",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(telemetry.Propagator()),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
		// Probes and scrapes every few seconds would bury the traces worth reading.
		otelhttp.WithFilter(func(r *http.Request) bool {
			return r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && r.URL.Path != "/metrics"
		}),
	))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return wrapped(func(c echo.Context) error {
			// Routing ran before any middleware added with Use, so the route is known here.
			r := route(c)
			span := trace.SpanFromContext(c.Request().Context())
			span.SetName(c.Request().Method + " " + r)
			span.SetAttributes(attribute.String("http.route", r))
			return next(c)
		})
	}
}

// propagate puts the caller's W3C trace context, when it sends a valid one, into the request's
// context, as a no-op tracer's span would carry it.
func propagate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r := c.Request(); r.Header.Get(HeaderTraceParent) != "" {
			c.SetRequest(r.WithContext(telemetry.Propagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))))
		}
		return next(c)
	}
}

// Metrics are the Prometheus metrics of an API's requests, by route template, method and status:
//
//	http_requests_total{route,method,code}              counter    requests answered
//	http_request_duration_seconds{route,method}         histogram  time to answer
//
// Errors per route are the 5xx codes: sum by (route) (rate(http_requests_total{code=~"5.."}[5m])).
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics creates the request metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "Time to answer an HTTP request, by route template and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Middleware counts and times requests. It must run before AccessLog, which hands errors to the
// error handler, so that the status it records is the one sent.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			status := c.Response().Status
			if err != nil && !c.Response().Committed {
				status = StatusOf(err) // AccessLog was not in the chain to write the response
			}
			r, method := route(c), c.Request().Method
			m.requests.WithLabelValues(r, method, strconv.Itoa(status)).Inc()
			m.duration.WithLabelValues(r, method).Observe(time.Since(start).Seconds())
			return err
		}
	}
}
