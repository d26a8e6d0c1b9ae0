package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/internal/telemetry"
)

// Request headers this package reads.
const (
	HeaderCorrelationID = "X-Correlation-ID"
	HeaderActor         = "X-Actor"
	HeaderTraceParent   = "traceparent"
	HeaderTraceState    = "tracestate"
)

// AnonymousActor is the actor of a request without X-Actor.
const AnonymousActor = "anonymous"

// Keys of the values RequestMeta stores in the echo context.
const (
	keyCorrelationID = "httpapi.correlation_id"
	keyActor         = "httpapi.actor"
)

// CorrelationID returns the request's correlation ID, set by RequestMeta ("" before it ran).
func CorrelationID(c echo.Context) string { s, _ := c.Get(keyCorrelationID).(string); return s }

// Actor returns who sent the request: X-Actor until there is authentication, else "anonymous".
func Actor(c echo.Context) string { s, _ := c.Get(keyActor).(string); return s }

// TraceContext returns the W3C trace context of the request's span (see Trace), or "" without one.
// With tracing off, that is the caller's own traceparent and tracestate, passed on as sent when
// valid.
func TraceContext(c echo.Context) (traceparent, tracestate string) {
	return telemetry.Inject(c.Request().Context())
}

// RequestMeta reads where a request comes from:
//
//   - X-Correlation-ID (1 to 128 visible ASCII characters), or a new UUID when absent; echoed in the
//     response either way;
//   - X-Actor (1 to 128 printable ASCII characters), "anonymous" when absent.
//
// The correlation ID also goes into the request's context, for the logs (telemetry.WithCorrelationID).
// Trace context is Trace's business: an invalid traceparent is dropped rather than refused, as the
// W3C Trace Context spec asks, so that a tracing bug in a caller does not fail its orders.
//
// A malformed X-Correlation-ID or X-Actor is a 400.
func RequestMeta() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Request().Header
			var bad Fields

			id := h.Get(HeaderCorrelationID)
			if id != "" && !validToken(id, 128, false) {
				bad.Addf(HeaderCorrelationID, "must be 1 to 128 visible ASCII characters")
				id = ""
			}
			if id == "" {
				id = uuid.NewString()
			}
			c.Set(keyCorrelationID, id)
			c.SetRequest(c.Request().WithContext(telemetry.WithCorrelationID(c.Request().Context(), id)))
			c.Response().Header().Set(HeaderCorrelationID, id)

			actor := h.Get(HeaderActor)
			switch {
			case actor == "" && len(h.Values(HeaderActor)) == 0:
				actor = AnonymousActor
			case !validToken(actor, 128, true):
				bad.Addf(HeaderActor, "must be 1 to 128 printable ASCII characters")
			}
			c.Set(keyActor, actor)

			if err := bad.Err(); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// validToken reports whether s is 1 to max ASCII characters from '!' to '~', or from ' ' when spaces
// are allowed (not at either end).
func validToken(s string, max int, spaces bool) bool {
	if len(s) < 1 || len(s) > max || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > '~' || c < '!' && !(spaces && c == ' ') {
			return false
		}
	}
	return true
}

// AccessLog logs one line per request, once its response is written: method, route, status, latency
// and size, with the correlation and trace IDs the logger's handler takes from the context. It hands a handler's error to the error handler itself, so that the
// line has the final status, and turns a panic into a 500.
func AccessLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := callRecovering(next, c)
			if err != nil {
				c.Error(err)
			}
			req, res := c.Request(), c.Response()
			level := slog.LevelInfo
			if res.Status >= 500 {
				level = slog.LevelWarn // the error handler logged the cause
			}
			log.LogAttrs(req.Context(), level, "request",
				slog.String("method", req.Method),
				slog.String("route", c.Path()),
				slog.String("path", req.URL.Path),
				slog.Int("status", res.Status),
				slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
				slog.Int64("bytes", res.Size),
			)
			return nil
		}
	}
}

func callRecovering(next echo.HandlerFunc, c echo.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return next(c)
}

// Timeout gives every request a deadline: the calls it makes to stores and databases end with it.
func Timeout(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx, cancel := context.WithTimeout(c.Request().Context(), d)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}

// BodyLimit refuses request bodies over limit bytes with a 413: at once when Content-Length says so,
// without reading the body, and otherwise as soon as reading passes the limit.
func BodyLimit(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > limit {
				return &http.MaxBytesError{Limit: limit}
			}
			if req.Body != nil {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			}
			return next(c)
		}
	}
}

// RequireJSON refuses a request whose Content-Type is not application/json with a 415. Parameters
// such as charset=utf-8 are allowed.
func RequireJSON() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
			if err != nil || mt != echo.MIMEApplicationJSON {
				return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Content-Type must be application/json.")
			}
			return next(c)
		}
	}
}
