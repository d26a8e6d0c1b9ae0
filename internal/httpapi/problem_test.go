package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/idempotency"
	"github.com/orderflow/orderflow/internal/resilience"
	"github.com/orderflow/orderflow/internal/telemetry"
)

// serve runs one request through an echo with the error handler and the given handler.
func serve(t *testing.T, h echo.HandlerFunc, logs io.Writer) *httptest.ResponseRecorder {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	log := slog.New(telemetry.NewContextHandler(slog.NewJSONHandler(logs, nil)))
	e := echo.New()
	e.HTTPErrorHandler = NewErrorHandler(log)
	e.Use(AccessLog(log), RequestMeta())
	e.POST("/orders/:id/x", h)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/orders/42/x", nil)
	req.Header.Set(HeaderCorrelationID, "corr-1")
	e.ServeHTTP(rec, req)
	return rec
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != MediaTypeProblem {
		t.Errorf("Content-Type = %q, want %q", ct, MediaTypeProblem)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return p
}

func TestErrorMapping(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	tests := []struct {
		err    error
		status int
		slug   string
		rule   bool
	}{
		{wrap(domain.ErrOrderNotFound), 404, "order-not-found", false},
		{wrap(auth.ErrUnauthenticated), 401, "unauthenticated", false},
		{wrap(auth.ErrForbidden), 403, "forbidden", false},
		{&LimitError{Err: ErrRateLimited, Wait: time.Second}, 429, "rate-limited", false},
		{&LimitError{Err: ErrOverloaded, Wait: time.Second}, 503, "overloaded", false},
		{wrap(domain.ErrOrderExists), 409, "order-exists", true},
		{wrap(domain.ErrNotDraft), 409, "not-draft", true},
		{wrap(domain.ErrTooManyLines), 409, "too-many-lines", true},
		{wrap(domain.ErrLineQuantityExceeded), 409, "line-quantity-exceeded", true},
		{wrap(domain.ErrLineMismatch), 409, "line-mismatch", true},
		{wrap(domain.ErrItemNotFound), 409, "item-not-found", true},
		{wrap(domain.ErrNoItems), 409, "no-items", true},
		{wrap(domain.ErrNoShippingAddress), 409, "no-shipping-address", true},
		{wrap(domain.ErrNotPlaced), 409, "not-placed", true},
		{wrap(domain.ErrAmountMismatch), 409, "amount-mismatch", true},
		{wrap(domain.ErrNotPaid), 409, "not-paid", true},
		{wrap(domain.ErrNotShipped), 409, "not-shipped", true},
		{wrap(domain.ErrCannotCancel), 409, "cannot-cancel", true},
		{wrap(command.ErrConflict), 409, "concurrent-modification", true},
		{wrap(idempotency.ErrInProgress), 409, "idempotency-key-in-use", true},
		{&command.PreconditionError{Expected: 1, Current: 4}, 412, "precondition-failed", false},
		{wrap(idempotency.ErrKeyReused), 422, "idempotency-key-reused", false},
		{wrap(domain.ErrInvalidSKU), 400, "invalid-request", false},
		{wrap(domain.ErrInvalidCurrency), 400, "invalid-request", false},
		{wrap(idempotency.ErrInvalidKey), 400, "invalid-request", false},
		{&ValidationError{Fields: []FieldError{{"sku", "bad"}}}, 400, "invalid-request", false},
		{wrap(eventstore.ErrUnavailable), 503, "service-unavailable", false},
		{&resilience.OpenError{Wait: 2500 * time.Millisecond}, 503, "service-unavailable", false},
		{wrap(idempotency.ErrUnavailable), 503, "service-unavailable", false},
		{context.DeadlineExceeded, 503, "timeout", false},
		{&command.OutcomeUnknownError{Err: context.DeadlineExceeded}, 503, "outcome-unknown", false},
		{&command.OutcomeUnknownError{Err: &resilience.OpenError{Wait: time.Second}}, 503, "outcome-unknown", false},
		{&http.MaxBytesError{Limit: 10}, 413, "request-entity-too-large", false},
		{echo.ErrNotFound, 404, "not-found", false},
		{echo.ErrMethodNotAllowed, 405, "method-not-allowed", false},
		{echo.ErrUnsupportedMediaType, 415, "unsupported-media-type", false},
		{errors.New("pq: relation missing at 10.0.0.3"), 500, "internal", false},
		{eventstore.ErrDuplicateEventID, 500, "internal", false},
	}
	for _, tt := range tests {
		t.Run(tt.slug+"/"+tt.err.Error(), func(t *testing.T) {
			rec := serve(t, func(echo.Context) error { return tt.err }, nil)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			p := decodeProblem(t, rec)
			if p.Type != ProblemTypeBase+tt.slug || p.Status != tt.status || p.Title == "" {
				t.Errorf("problem = %+v, want type %s", p, tt.slug)
			}
			if p.Instance != "/orders/42/x" {
				t.Errorf("instance = %q, want the request path", p.Instance)
			}
			if tt.rule != (p.Rule == tt.slug) {
				t.Errorf("rule = %q, want it only for 409s", p.Rule)
			}
			if tt.status >= 500 && strings.Contains(rec.Body.String(), tt.err.Error()) && tt.status != 503 {
				t.Errorf("500 body %s shows the error", rec.Body)
			}
			if tt.status == 503 && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

func TestServerErrorsAreLoggedNotShown(t *testing.T) {
	var logs strings.Builder
	secret := errors.New("dial tcp 10.1.2.3:5432: password authentication failed for user orders")
	rec := serve(t, func(echo.Context) error { return secret }, &logs)
	if rec.Code != 500 {
		t.Fatalf("status = %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "10.1.2.3") || strings.Contains(rec.Body.String(), "password") {
		t.Errorf("500 body leaks the error: %s", rec.Body)
	}
	p := decodeProblem(t, rec)
	if p.CorrelationID != "corr-1" {
		t.Errorf("correlation_id = %q, want corr-1", p.CorrelationID)
	}
	if !strings.Contains(logs.String(), "password authentication failed") || !strings.Contains(logs.String(), `"correlation_id":"corr-1"`) {
		t.Errorf("log lacks the error or the correlation ID:\n%s", logs.String())
	}
}

func TestProblemDetails(t *testing.T) {
	rec := serve(t, func(echo.Context) error { return &command.PreconditionError{Expected: 1, Current: 4} }, nil)
	if p := decodeProblem(t, rec); p.CurrentVersion == nil || *p.CurrentVersion != 4 {
		t.Errorf("412 current_version = %v, want 4", p.CurrentVersion)
	}

	rec = serve(t, func(echo.Context) error {
		var f Fields
		f.Addf("sku", "must not be empty")
		f.Addf("quantity", "must be between 1 and 10000")
		return f.Err()
	}, nil)
	p := decodeProblem(t, rec)
	if len(p.Errors) != 2 || p.Errors[0] != (FieldError{"sku", "must not be empty"}) || p.Errors[1].Field != "quantity" {
		t.Errorf("400 errors = %+v", p.Errors)
	}

	rec = serve(t, func(echo.Context) error { return &resilience.OpenError{Wait: 2500 * time.Millisecond} }, nil)
	if got := rec.Header().Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After = %q, want 3 (2.5 s rounded up)", got)
	}

	// A command that may have been applied says so, how to find out, and which order it concerns.
	order := uuid.MustParse("3f2b0000-0000-4000-8000-000000000001")
	rec = serve(t, func(echo.Context) error {
		return &command.OutcomeUnknownError{OrderID: order, Err: &resilience.OpenError{Wait: 2500 * time.Millisecond}}
	}, nil)
	p = decodeProblem(t, rec)
	if !strings.Contains(p.Detail, "Idempotency-Key") || p.OrderID != order.String() {
		t.Errorf("outcome-unknown problem %+v, want a detail naming the way to learn the outcome, and order_id %s", p, order)
	}
	if got := rec.Header().Get("Retry-After"); got != "3" {
		t.Errorf("outcome-unknown Retry-After = %q, want the breaker's 3", got)
	}
}
