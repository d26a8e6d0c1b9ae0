package commandapi

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/idempotency"
)

// Metrics are the command API's Prometheus metrics: httpapi's request metrics and
//
//	commands_total{command,outcome}   counter   commands handled, by outcome:
//	    accepted   events appended (or none needed)
//	    replayed   answered from an idempotency record, nothing run
//	    denied     not authenticated or not allowed (401, 403)
//	    invalid    refused before reaching the order (400, 413, 415, 422)
//	    rejected   refused by a business rule of the order, or the order does not exist (404, 409)
//	    conflict   concurrent writers: If-Match failed, retries ran out, or the key is in use
//	    error      the platform failed (5xx)
type Metrics struct {
	http     *httpapi.Metrics
	commands *prometheus.CounterVec
}

// NewMetrics creates the command API's metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	h, err := httpapi.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	m := &Metrics{http: h, commands: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "commands_total", Help: "Commands handled, by command and outcome.",
	}, []string{"command", "outcome"})}
	if err := reg.Register(m.commands); err != nil {
		return nil, err
	}
	return m, nil
}

// count is route middleware that counts the route's command by outcome. It runs before the
// idempotency middleware, so that replays count too.
func (m *Metrics) count(name string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			m.commands.WithLabelValues(name, outcome(c, err)).Inc()
			return err
		}
	}
}

// outcome classifies a command's result for commands_total.
func outcome(c echo.Context, err error) string {
	if err == nil {
		if c.Response().Header().Get(HeaderReplayed) == "true" {
			return "replayed"
		}
		if c.Response().Status >= 400 {
			return "invalid" // written by a handler itself; none does today
		}
		return "accepted"
	}
	if errors.Is(err, command.ErrConflict) || errors.Is(err, command.ErrPreconditionFailed) ||
		errors.Is(err, idempotency.ErrInProgress) {
		return "conflict"
	}
	switch status := httpapi.StatusOf(err); {
	case status >= 500:
		return "error"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "denied"
	case status == http.StatusConflict || status == http.StatusNotFound:
		return "rejected"
	default:
		return "invalid"
	}
}
