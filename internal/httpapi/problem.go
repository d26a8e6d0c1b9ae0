// Package httpapi is the HTTP plumbing the order platform's APIs share: RFC 9457 problem responses, the
// one table that maps errors to HTTP statuses, request metadata (correlation ID, actor, trace context),
// access logging, body limits, strict JSON decoding and the conditional-request headers.
//
// Handlers return errors; [NewErrorHandler], installed as echo's HTTPErrorHandler, turns each into a
// problem response. Nothing else writes error responses, so a sentinel maps to the same status and
// problem type on every endpoint.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/idempotency"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// ProblemTypeBase prefixes every problem type URI; the slug that follows names the problem. Types are
// durable: clients branch on them.
const ProblemTypeBase = "https://orderflow.dev/problems/"

// MediaTypeProblem is the media type of problem responses.
const MediaTypeProblem = "application/problem+json"

// Problem is an RFC 9457 problem detail, with this API's extension members.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Errors lists each invalid field of a 400.
	Errors []FieldError `json:"errors,omitempty"`
	// Rule names the business rule a 409 broke (the slug of its type).
	Rule string `json:"rule,omitempty"`
	// CurrentVersion is the resource's version on a 412.
	CurrentVersion *uint64 `json:"current_version,omitempty"`
	// OrderID names the order of a command whose outcome is unknown (503 outcome-unknown), which the
	// caller may not know yet: a create without an ID.
	OrderID string `json:"order_id,omitempty"`
	// CorrelationID lets a client quote a failed request to support.
	CorrelationID string `json:"correlation_id,omitempty"`
}

// kind is one row of the mapping table.
type kind struct {
	err    error
	status int
	slug   string
	title  string
}

// problemKinds is THE table from sentinel errors to problems. The first row whose error matches
// (errors.Is) wins, so more specific errors come before the general ones they also match. Typed
// errors that carry data are handled in classify, before the table.
func problemKinds() []kind {
	return []kind{
		// 401 and 403: who the caller is, and whether it may (internal/auth).
		{auth.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated", "A valid bearer token is required"},
		{auth.ErrForbidden, http.StatusForbidden, "forbidden", "Not allowed for this token"},

		// 429: the client's rate limit.
		{ErrRateLimited, http.StatusTooManyRequests, "rate-limited", "Too many requests"},

		// 404: the order does not exist.
		{domain.ErrOrderNotFound, http.StatusNotFound, "order-not-found", "Order not found"},
		// Order streams are the only streams: the audit trail reads them directly.
		{eventstore.ErrStreamNotFound, http.StatusNotFound, "order-not-found", "Order not found"},

		// 409: the command breaks a rule in the order's current state. The slug is the rule's name.
		{domain.ErrOrderExists, http.StatusConflict, "order-exists", "The order already exists"},
		{domain.ErrNotDraft, http.StatusConflict, "not-draft", "The order is no longer a draft"},
		{domain.ErrTooManyLines, http.StatusConflict, "too-many-lines", "The order has too many lines"},
		{domain.ErrLineQuantityExceeded, http.StatusConflict, "line-quantity-exceeded", "The line's quantity would be too large"},
		{domain.ErrLineMismatch, http.StatusConflict, "line-mismatch", "The item is already in the order with another name or price"},
		{domain.ErrItemNotFound, http.StatusConflict, "item-not-found", "The item is not in the order"},
		{domain.ErrNoItems, http.StatusConflict, "no-items", "The order has no items"},
		{domain.ErrNoShippingAddress, http.StatusConflict, "no-shipping-address", "The order has no shipping address"},
		{domain.ErrNotPlaced, http.StatusConflict, "not-placed", "The order is not placed"},
		{domain.ErrAmountMismatch, http.StatusConflict, "amount-mismatch", "The payment does not match the order total"},
		{domain.ErrNotPaid, http.StatusConflict, "not-paid", "The order is not paid"},
		{domain.ErrNotShipped, http.StatusConflict, "not-shipped", "The order is not shipped"},
		{domain.ErrCannotCancel, http.StatusConflict, "cannot-cancel", "The order can no longer be cancelled"},
		{command.ErrConflict, http.StatusConflict, "concurrent-modification", "The order kept changing; retry"},
		{idempotency.ErrInProgress, http.StatusConflict, "idempotency-key-in-use", "A request with this idempotency key is still in progress"},

		// 412 and 422.
		{command.ErrPreconditionFailed, http.StatusPreconditionFailed, "precondition-failed", "The order is not at the version in If-Match"},
		{idempotency.ErrKeyReused, http.StatusUnprocessableEntity, "idempotency-key-reused", "The idempotency key was used with a different request"},

		// 400: invalid input that got past the handler's own checks.
		{domain.ErrInvalidOrderID, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidCustomerID, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidCurrency, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidSKU, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidItemName, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrQuantityOutOfRange, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrUnitPriceOutOfRange, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidAmount, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidCountry, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidAddress, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidPaymentReference, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidCarrier, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidTrackingNumber, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{domain.ErrInvalidCancelReason, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{idempotency.ErrInvalidKey, http.StatusBadRequest, "invalid-request", "Invalid request"},
		{eventstore.ErrInvalidPosition, http.StatusBadRequest, "invalid-request", "Invalid request"},

		// The query API (internal/queryapi): its 404 and 503s. Before the generic 503s below, which
		// an unavailable read model may also match.
		{readmodel.ErrCustomerNotFound, http.StatusNotFound, "customer-not-found", "Customer not found"},
		{readmodel.ErrNotReached, http.StatusServiceUnavailable, "projection-behind", "The read model has not reached the requested position yet"},
		{readmodel.ErrUnavailable, http.StatusServiceUnavailable, "service-unavailable", "The read-model database is unavailable"},

		// 503: try again later. Their details are ours, not the client's: the detail is generic.
		// An append that may have happened first: it says so, whatever made the store fail.
		{command.ErrOutcomeUnknown, http.StatusServiceUnavailable, "outcome-unknown", "The command may have been applied"},
		{ErrOverloaded, http.StatusServiceUnavailable, "overloaded", "The service is overloaded"},
		{eventstore.ErrUnavailable, http.StatusServiceUnavailable, "service-unavailable", "The event store is unavailable"},
		{idempotency.ErrUnavailable, http.StatusServiceUnavailable, "service-unavailable", "The database is unavailable"},
		{context.DeadlineExceeded, http.StatusServiceUnavailable, "timeout", "The request took too long"},
		{context.Canceled, http.StatusServiceUnavailable, "cancelled", "The request was cancelled"},
	}
}

// retryAfterer is an error that knows when to try again, such as an open circuit breaker's.
type retryAfterer interface{ RetryAfter() time.Duration }

// currentVersioner is an error that knows the resource's current version, such as a failed If-Match.
type currentVersioner interface{ CurrentVersion() uint64 }

// orderNamer is an error that names the order it concerns, such as a command of unknown outcome.
type orderNamer interface{ Order() string }

// classify turns err into a problem (without Instance) and the Retry-After to send, if any.
func classify(err error, table []kind) (Problem, time.Duration) {
	var (
		verr    *ValidationError
		tooBig  *http.MaxBytesError
		httpErr *echo.HTTPError
	)
	switch {
	case errors.As(err, &verr):
		return Problem{Type: ProblemTypeBase + "invalid-request", Title: "Invalid request", Status: http.StatusBadRequest,
			Detail: verr.Error(), Errors: verr.Fields}, 0
	case errors.As(err, &tooBig):
		return statusProblem(http.StatusRequestEntityTooLarge,
			"The request body is larger than "+strconv.FormatInt(tooBig.Limit, 10)+" bytes."), 0
	case errors.As(err, &httpErr):
		detail, _ := httpErr.Message.(string)
		if detail == http.StatusText(httpErr.Code) {
			detail = ""
		}
		return statusProblem(httpErr.Code, detail), 0
	}

	for _, k := range table {
		if !errors.Is(err, k.err) {
			continue
		}
		p := Problem{Type: ProblemTypeBase + k.slug, Title: k.title, Status: k.status, Detail: err.Error()}
		var retry time.Duration
		switch k.status {
		case http.StatusConflict:
			p.Rule = k.slug
			if k.err == idempotency.ErrInProgress {
				retry = time.Second
			}
		case http.StatusPreconditionFailed:
			var cv currentVersioner
			if errors.As(err, &cv) {
				v := cv.CurrentVersion()
				p.CurrentVersion = &v
			}
		case http.StatusUnauthorized, http.StatusForbidden:
			// Why the token was refused, in auth's own words: it holds nothing secret.
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			switch {
			case k.err == command.ErrOutcomeUnknown:
				p.Detail = "The event store did not confirm the append. Repeat the request with the same Idempotency-Key to learn whether it was applied; without one, read the order (order_id) before repeating it."
				var on orderNamer
				if errors.As(err, &on) {
					p.OrderID = on.Order()
				}
			case k.status == http.StatusServiceUnavailable:
				p.Detail = "Retry later."
			}
			retry = time.Second
			var ra retryAfterer
			if errors.As(err, &ra) {
				retry = ra.RetryAfter()
			}
		}
		return p, retry
	}
	return statusProblem(http.StatusInternalServerError, "The request failed; the error has been logged."), 0
}

// StatusOf returns the HTTP status the error handler answers err with.
func StatusOf(err error) int {
	p, _ := classify(err, problemKinds())
	return p.Status
}

// statusProblem is the problem of a plain HTTP status, with a type named after the status.
func statusProblem(status int, detail string) Problem {
	text := http.StatusText(status)
	if text == "" {
		text = "Error " + strconv.Itoa(status)
	}
	slug := strings.ToLower(strings.ReplaceAll(text, " ", "-"))
	if status == http.StatusInternalServerError {
		slug = "internal"
	}
	return Problem{Type: ProblemTypeBase + slug, Title: text, Status: status, Detail: detail}
}

// NewErrorHandler returns echo's HTTPErrorHandler for the platform's APIs: it writes err as a problem
// response. Server errors are logged (with the correlation and trace IDs the logger's handler takes from
// the request's context) and answered without details.
func NewErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	table := problemKinds()
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p, retry := classify(err, table)
		p.Instance = c.Request().URL.Path
		if p.Status >= 500 {
			p.CorrelationID = CorrelationID(c)
			level := slog.LevelError
			if p.Status == http.StatusServiceUnavailable {
				level = slog.LevelWarn
			}
			log.Log(c.Request().Context(), level, "request failed", "method", c.Request().Method, "route", c.Path(), "error", err.Error())
		}
		if retry > 0 {
			// Whole seconds, rounded up: Retry-After has no fractions, and 0 would invite a busy loop.
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
		}
		if werr := WriteProblem(c, p); werr != nil {
			log.WarnContext(c.Request().Context(), "write problem response", "error", werr)
		}
	}
}

// WriteProblem writes p as the response.
func WriteProblem(c echo.Context, p Problem) error {
	if c.Request().Method == http.MethodHead {
		return c.NoContent(p.Status)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return c.Blob(p.Status, MediaTypeProblem, body)
}
