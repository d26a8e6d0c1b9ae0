package queryapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// DefaultAuditPageSize is the page size of GET /audit without limit.
const DefaultAuditPageSize = 50

// maxFilterLength bounds the actor and type filters: an actor is at most 128 characters (see
// httpapi.RequestMeta), an event type name far less.
const maxFilterLength = 128

type auditList struct {
	Entries    []readmodel.AuditEntry `json:"entries"`
	NextCursor *string                `json:"next_cursor"`
}

// auditLog answers GET /audit: who did what, and when, across all orders, from the audit_log read
// model. Like every read-model endpoint it says the position it reflects and waits for min_position.
func (h *handlers) auditLog(c echo.Context) error {
	var f httpapi.Fields
	q := queryParams(c, &f, "actor", "order_id", "type", "from", "to", "limit", "cursor")
	filter := readmodel.AuditFilter{Limit: DefaultAuditPageSize}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"actor", &filter.Actor}, {"type", &filter.Type}} {
		if v, ok := q[p.name]; ok {
			if v == "" || len(v) > maxFilterLength {
				f.Addf(p.name, "must be 1 to %d characters", maxFilterLength)
			}
			*p.dst = v
		}
	}
	if v, ok := q["order_id"]; ok {
		id, err := parseUUID(v)
		if err != nil {
			f.Add("order_id", err)
		}
		filter.OrderID = id
	}
	filter.From = timeParam(q, "from", &f)
	filter.To = timeParam(q, "to", &f)
	if !filter.From.IsZero() && !filter.To.IsZero() && !filter.To.After(filter.From) {
		f.Addf("to", "must be after from")
	}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > readmodel.MaxAuditPerPage {
			f.Addf("limit", "must be a whole number from 1 to %d", readmodel.MaxAuditPerPage)
		}
		filter.Limit = n
	}
	if v, ok := q["cursor"]; ok {
		at, id, err := decodeCursor(v)
		if err != nil {
			f.Add("cursor", err)
		}
		filter.After = &readmodel.AuditKey{RecordedAt: at, EventID: id}
	}
	cons := h.readConsistency(c, q, &f)
	if err := f.Err(); err != nil {
		return err
	}
	if err := h.await(c, cons, readmodel.ProjectionAuditLog); err != nil {
		return err
	}
	page, pos, err := h.read.AuditLog(c.Request().Context(), filter)
	if err != nil {
		return err
	}
	if err := served(c, cons, pos); err != nil {
		return err
	}
	body := auditList{Entries: page.Entries}
	if page.More {
		last := page.Entries[len(page.Entries)-1]
		next := encodeCursor(last.RecordedAt, last.EventID)
		body.NextCursor = &next
	}
	return c.JSON(http.StatusOK, body)
}

// timeParam reads an optional RFC 3339 time; the zero time when absent or invalid.
func timeParam(q map[string]string, name string, f *httpapi.Fields) time.Time {
	v, ok := q[name]
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		f.Addf(name, "must be an RFC 3339 time such as 2026-03-01T12:00:00Z")
	}
	return t
}
