package queryapi

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/httpapi"
)

// The timeline is the audit trail for people: an order's events as an HTML page, rendered on the
// server from templates embedded in the binary (no build step, no script). html/template escapes
// every value: actors, reasons and names are whatever clients sent.

//go:embed timeline.html
var timelineFiles embed.FS

var timelineTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 UTC") },
}).ParseFS(timelineFiles, "timeline.html"))

// timelineView is what the "timeline" template renders.
type timelineView struct {
	OrderID uuid.UUID
	// Order is the order as of the last event on the page.
	Order  historicalOrder
	Events []timelineEvent
	// Earlier and Later link the neighbouring pages; empty at either end.
	Earlier, Later string
}

// timelineEvent is one event of the page with its links: Prev and Next point at the neighbouring
// versions (on this page or the next), State at the order as of this version.
type timelineEvent struct {
	historyEvent
	Anchor, Prev, Next, State string
}

// errorView is what the "error" template renders.
type errorView struct {
	Status int
	Title  string
	Detail string
	Fields []httpapi.FieldError
}

func (h *handlers) orderTimeline(c echo.Context) error {
	id, from, limit, err := h.pageRequest(c)
	var verr *httpapi.ValidationError
	if errors.As(err, &verr) {
		return renderPage(c, http.StatusBadRequest, "error", errorView{Status: http.StatusBadRequest,
			Title: "This is not a valid timeline address", Fields: verr.Fields})
	}
	if err != nil {
		return err
	}

	end := from + uint64(limit) // the first version after the page
	recorded, more, err := h.readUntil(c.Request().Context(), id, func(r eventstore.RecordedEvent) bool { return r.Version >= end })
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return renderPage(c, http.StatusNotFound, "error", errorView{Status: http.StatusNotFound,
			Title: "Order not found", Detail: "There is no order " + id.String() + "."})
	}
	if err != nil {
		return err
	}
	order, err := rebuild(id, recorded)
	if err != nil {
		return err
	}
	if err := auth.FromContext(c.Request().Context()).CheckOwner(string(order.CustomerID())); err != nil {
		return err
	}
	path := c.Request().URL.Path
	view := timelineView{OrderID: id, Order: newHistoricalOrder(order, recorded[len(recorded)-1], asOf{Version: order.Version()})}
	var page []eventstore.RecordedEvent
	if from <= uint64(len(recorded)) {
		page = recorded[from-1:]
	}
	state := "/orders/" + id.String() + "?as_of_version="
	for i, r := range page {
		v := strconv.FormatUint(r.Version, 10)
		ev := timelineEvent{historyEvent: newHistoryEvent(r), Anchor: "v" + v, State: state + v}
		switch {
		case i > 0:
			ev.Prev = "#v" + strconv.FormatUint(r.Version-1, 10)
		case r.Version > 1:
			ev.Prev = historyLink(path, r.Version-uint64(min(limit, int(r.Version-1))), limit) + "#v" + strconv.FormatUint(r.Version-1, 10)
		}
		switch {
		case i < len(page)-1:
			ev.Next = "#v" + strconv.FormatUint(r.Version+1, 10)
		case more:
			ev.Next = historyLink(path, r.Version+1, limit) + "#v" + strconv.FormatUint(r.Version+1, 10)
		}
		view.Events = append(view.Events, ev)
	}
	if from > 1 {
		view.Earlier = historyLink(path, from-uint64(min(uint64(limit), from-1)), limit)
	}
	if more {
		view.Later = historyLink(path, end, limit)
	}
	return renderPage(c, http.StatusOK, "timeline", view)
}

// renderPage renders a template into memory first, so that a failing template is a 500 problem
// rather than half a page.
func renderPage(c echo.Context, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := timelineTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.HTMLBlob(status, buf.Bytes())
}
