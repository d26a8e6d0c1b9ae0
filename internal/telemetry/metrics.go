package telemetry

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a service's Prometheus registry, with the Go runtime's and the process's
// collectors. Each service has its own rather than the global default, so that nothing registers
// behind its back and tests can build as many as they like.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// MetricsHandler serves reg in the Prometheus exposition format, logging collection errors. With a
// token, a scrape must carry it as a bearer token (Prometheus: authorization.credentials in the scrape
// config), and any other request gets 401: the metrics name routes, projections and error counts,
// which a service reachable from outside should not hand to anyone. Without one, the page is open,
// for a network that only lets the scraper in.
func MetricsHandler(reg *prometheus.Registry, log *slog.Logger, token string) http.Handler {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"type":"https://orderflow.dev/problems/unauthenticated","title":"A valid bearer token is required","status":401,"detail":"/metrics needs the bearer token set in METRICS_TOKEN"}`+"\n")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// WithMetrics serves GET /metrics from reg (see MetricsHandler for token) and every other request
// with h. Scrapes bypass h's middleware on purpose: no access log line, span or request metric every
// few seconds.
func WithMetrics(h http.Handler, reg *prometheus.Registry, log *slog.Logger, token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", MetricsHandler(reg, log, token))
	mux.Handle("/", h)
	return mux
}

// MinMetricsToken is the length, in bytes, of the shortest METRICS_TOKEN the services take.
const MinMetricsToken = 16

// CheckMetricsToken checks a METRICS_TOKEN: empty (the page is open), or at least MinMetricsToken
// bytes of visible ASCII, which an Authorization header carries as it is. The error never quotes it.
func CheckMetricsToken(token string) error {
	if token == "" {
		return nil
	}
	if len(token) < MinMetricsToken {
		return fmt.Errorf("must be at least %d bytes", MinMetricsToken)
	}
	for i := range len(token) {
		if token[i] <= ' ' || token[i] > '~' {
			return errors.New("must be visible ASCII, without spaces")
		}
	}
	return nil
}
