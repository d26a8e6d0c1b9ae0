package queryapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// The audit trail's order endpoints read the event store, the source of truth, rather than the read
// models: GET /orders/{id}/history, GET /orders/{id}/timeline and the temporal reads of GET
// /orders/{id} (?as_of_version=, ?as_of=). The store is always at least as recent as any position the
// command API has handed out, so these reads need no read-your-writes wait; min_position is accepted
// and has nothing to wait for.

// streamReader reads order streams: a *resilience.Breaker around the configured store. ReadStream
// returns an error wrapping eventstore.ErrStreamNotFound for an order without events, and one
// wrapping eventstore.ErrUnavailable when the store cannot be reached (an open breaker's included).
type streamReader interface {
	ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error)
}

// Bounds of a page of history, and the size of each read when folding a whole stream.
const (
	DefaultHistoryPageSize = 100
	MaxHistoryPageSize     = 1000
	streamBatch            = 500
)

// Response bodies of the history endpoint.
type (
	historyPage struct {
		OrderID uuid.UUID      `json:"order_id"`
		Events  []historyEvent `json:"events"`
		// NextFromVersion and Next say where the next page starts; null on the last page.
		NextFromVersion *uint64 `json:"next_from_version"`
		Next            *string `json:"next"`
	}

	// historyEvent is an event as the store holds it: Data and SchemaVersion as written, an old
	// schema version included. Changes are its key fields, read from the event upcast to today's
	// shape; empty for a type or version this release does not know.
	historyEvent struct {
		Version       uint64              `json:"version"`
		Type          string              `json:"type"`
		SchemaVersion int                 `json:"schema_version"`
		RecordedAt    time.Time           `json:"recorded_at"`
		Position      eventstore.Position `json:"position"`
		Data          json.RawMessage     `json:"data"`
		Metadata      eventMetadata       `json:"metadata"`
		Changes       []change            `json:"changes"`
	}

	eventMetadata struct {
		EventID       uuid.UUID `json:"event_id"`
		CorrelationID *string   `json:"correlation_id"`
		CausationID   *string   `json:"causation_id"`
		Actor         *string   `json:"actor"`
		Command       *string   `json:"command"`
	}
)

func newHistoryEvent(r eventstore.RecordedEvent) historyEvent {
	md := r.Metadata
	return historyEvent{
		Version:       r.Version,
		Type:          r.Type,
		SchemaVersion: r.SchemaVersion,
		RecordedAt:    r.RecordedAt.UTC(),
		Position:      r.Position,
		Data:          r.Data,
		Metadata: eventMetadata{
			EventID:       r.ID,
			CorrelationID: nonEmpty(md.CorrelationID),
			CausationID:   nonEmpty(md.CausationID),
			Actor:         nonEmpty(md.Actor),
			Command:       nonEmpty(md.Command),
		},
		Changes: changesOf(r),
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// pageRequest reads what the history and the timeline take: the order ID, from_version and limit
// (min_position is validated; the store has nothing to wait for). Invalid values are a
// *httpapi.ValidationError.
func (h *handlers) pageRequest(c echo.Context) (id uuid.UUID, from uint64, limit int, err error) {
	var f httpapi.Fields
	id = orderIDParam(c, &f)
	q := queryParams(c, &f, "from_version", "limit")
	from, limit = 1, DefaultHistoryPageSize
	if v, ok := q["from_version"]; ok {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil || n < 1 || strings.TrimLeft(v, "0123456789") != "" {
			f.Addf("from_version", "must be a whole number from 1")
		}
		from = n
	}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxHistoryPageSize {
			f.Addf("limit", "must be a whole number from 1 to %d", MaxHistoryPageSize)
		}
		limit = n
	}
	h.readConsistency(c, q, &f)
	return id, from, limit, f.Err()
}

// readPage reads limit events of the order from version from on, and whether more follow.
func (h *handlers) readPage(ctx context.Context, id uuid.UUID, from uint64, limit int) ([]eventstore.RecordedEvent, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, h.storeTimeout)
	defer cancel()
	// One more than asked, to learn whether another page follows.
	events, err := h.events.ReadStream(ctx, command.StreamName(id), from, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("read history of order %s: %w", id, err)
	}
	if len(events) > limit {
		return events[:limit], true, nil
	}
	return events, false, nil
}

func (h *handlers) orderHistory(c echo.Context) error {
	id, from, limit, err := h.pageRequest(c)
	if err != nil {
		return err
	}
	events, more, err := h.readPage(c.Request().Context(), id, from, limit)
	if err != nil {
		return err
	}
	if err := h.checkOwner(c, id, events); err != nil {
		return err
	}
	page := historyPage{OrderID: id, Events: make([]historyEvent, len(events))}
	for i, r := range events {
		page.Events[i] = newHistoryEvent(r)
	}
	if more {
		next := events[len(events)-1].Version + 1
		link := historyLink(c.Request().URL.Path, next, limit)
		page.NextFromVersion, page.Next = &next, &link
		c.Response().Header().Set("Link", "<"+link+`>; rel="next"`)
	}
	return c.JSON(http.StatusOK, page)
}

// checkOwner returns an error wrapping auth.ErrForbidden unless the request's principal may see order
// id, like GET /orders/{id}. recorded are events of the order read already: when they start at
// version 1 the owner is read from there, else the first event is read. Staff, admins and requests
// without authentication need no read.
func (h *handlers) checkOwner(c echo.Context, id uuid.UUID, recorded []eventstore.RecordedEvent) error {
	p := auth.FromContext(c.Request().Context())
	if p.OwnCustomer() == "" {
		return nil
	}
	if len(recorded) == 0 || recorded[0].Version != 1 {
		var err error
		if recorded, _, err = h.readPage(c.Request().Context(), id, 1, 1); err != nil {
			return err
		}
	}
	order, err := rebuild(id, recorded[:1])
	if err != nil {
		return err
	}
	return p.CheckOwner(string(order.CustomerID()))
}

// historyLink is the path and query of a page of history (or of the timeline, at path).
func historyLink(path string, from uint64, limit int) string {
	return path + "?" + url.Values{
		"from_version": {strconv.FormatUint(from, 10)},
		"limit":        {strconv.Itoa(limit)},
	}.Encode()
}

// readUntil reads the order's events from the first, in batches, until stop says an event is past the
// point wanted or the stream ends; stopped reports the former. An order without events is an error
// wrapping eventstore.ErrStreamNotFound.
func (h *handlers) readUntil(ctx context.Context, id uuid.UUID, stop func(eventstore.RecordedEvent) bool) (events []eventstore.RecordedEvent, stopped bool, err error) {
	for from := uint64(1); ; {
		batch, more, err := h.readPage(ctx, id, from, streamBatch)
		if err != nil {
			return nil, false, err
		}
		for i, r := range batch {
			if stop(r) {
				return append(events, batch[:i]...), true, nil
			}
		}
		events = append(events, batch...)
		if !more {
			return events, false, nil
		}
		from = events[len(events)-1].Version + 1
	}
}

// rebuild folds recorded events into the order with the domain's own code, upcasting old schema
// versions on the way.
func rebuild(id uuid.UUID, recorded []eventstore.RecordedEvent) (*domain.Order, error) {
	events := make([]domain.Event, len(recorded))
	for i, r := range recorded {
		e, err := domain.UnmarshalEvent(r.Type, r.SchemaVersion, r.Data)
		if err != nil {
			return nil, fmt.Errorf("order %s at version %d: %w", id, r.Version, err)
		}
		events[i] = e
	}
	return domain.Rebuild(events), nil
}

// fold rebuilds the order from its events before the point where stop first says yes, and returns it
// with the last event applied. An order with no event before that point, or none at all, is an error
// wrapping domain.ErrOrderNotFound.
func (h *handlers) fold(ctx context.Context, id uuid.UUID, stop func(eventstore.RecordedEvent) bool) (*domain.Order, eventstore.RecordedEvent, error) {
	recorded, _, err := h.readUntil(ctx, id, stop)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, eventstore.RecordedEvent{}, fmt.Errorf("order %s has no events: %w", id, domain.ErrOrderNotFound)
	}
	if err != nil {
		return nil, eventstore.RecordedEvent{}, err
	}
	if len(recorded) == 0 {
		return nil, eventstore.RecordedEvent{}, fmt.Errorf("order %s did not exist yet at that point: %w", id, domain.ErrOrderNotFound)
	}
	order, err := rebuild(id, recorded)
	return order, recorded[len(recorded)-1], err
}

// asOf is what a temporal read asks for: the order after version Version, or as the store had
// recorded it at Time. Exactly one is set.
type asOf struct {
	Version uint64
	Time    time.Time
}

// asOfParams reads as_of_version and as_of; ok reports whether either was given.
func asOfParams(q map[string]string, f *httpapi.Fields) (point asOf, ok bool) {
	v, byVersion := q["as_of_version"]
	_, byTime := q["as_of"]
	switch {
	case byVersion && byTime:
		f.Addf("as_of", "cannot be combined with as_of_version; give one of them")
	case byVersion:
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil || n < 1 || strings.TrimLeft(v, "0123456789") != "" {
			f.Addf("as_of_version", "must be a whole number from 1")
		}
		point.Version = n
	case byTime:
		point.Time = timeParam(q, "as_of", f)
	}
	return point, byVersion || byTime
}

// historicalOrder is an order as it was at a point of its history, rebuilt from the events up to
// that point by the domain's own code. AsOf says which point, so that it is never taken for the
// current state.
type historicalOrder struct {
	OrderID          uuid.UUID          `json:"order_id"`
	CustomerID       string             `json:"customer_id"`
	Status           string             `json:"status"`
	Currency         string             `json:"currency"`
	TotalCents       int64              `json:"total_cents"`
	ItemCount        int64              `json:"item_count"`
	LineCount        int                `json:"line_count"`
	Items            []readmodel.Item   `json:"items"`
	ShippingAddress  *readmodel.Address `json:"shipping_address"`
	PaymentReference *string            `json:"payment_reference"`
	Carrier          *string            `json:"carrier"`
	TrackingNumber   *string            `json:"tracking_number"`
	CancelReason     *string            `json:"cancel_reason"`
	Version          uint64             `json:"version"`
	CreatedAt        time.Time          `json:"created_at"`
	UpdatedAt        time.Time          `json:"updated_at"`
	AsOf             historicalMark     `json:"as_of"`
}

type (
	// historicalMark is the point a historical read was asked for and the last event it includes.
	historicalMark struct {
		RequestedVersion *uint64             `json:"requested_version"`
		RequestedTime    *time.Time          `json:"requested_time"`
		Version          uint64              `json:"version"`
		RecordedAt       time.Time           `json:"recorded_at"`
		Position         eventstore.Position `json:"position"`
	}
)

func newHistoricalOrder(o *domain.Order, last eventstore.RecordedEvent, point asOf) historicalOrder {
	h := historicalOrder{
		OrderID:          o.ID(),
		CustomerID:       string(o.CustomerID()),
		Status:           string(o.Status()),
		Currency:         string(o.Currency()),
		TotalCents:       int64(o.Total().Amount()),
		ItemCount:        o.ItemCount(),
		PaymentReference: nonEmpty(o.PaymentReference()),
		Carrier:          nonEmpty(o.Carrier()),
		TrackingNumber:   nonEmpty(o.TrackingNumber()),
		CancelReason:     nonEmpty(o.CancelReason()),
		Version:          o.Version(),
		CreatedAt:        o.CreatedAt().UTC(),
		UpdatedAt:        o.UpdatedAt().UTC(),
		AsOf: historicalMark{
			Version:    last.Version,
			RecordedAt: last.RecordedAt.UTC(),
			Position:   last.Position,
		},
	}
	lines := o.Lines()
	h.LineCount = len(lines)
	h.Items = make([]readmodel.Item, len(lines))
	for i, l := range lines {
		h.Items[i] = readmodel.Item{SKU: string(l.SKU), Name: string(l.Name), Quantity: int64(l.Quantity),
			UnitPriceCents: int64(l.UnitPrice), LineTotalCents: int64(l.Total())}
	}
	if a, ok := o.ShippingAddress(); ok {
		h.ShippingAddress = &readmodel.Address{Name: a.Name(), Line1: a.Line1(), Line2: nonEmpty(a.Line2()),
			City: a.City(), PostalCode: a.PostalCode(), Country: string(a.Country())}
	}
	if point.Version > 0 {
		h.AsOf.RequestedVersion = &point.Version
	} else {
		at := point.Time.UTC()
		h.AsOf.RequestedTime = &at
	}
	return h
}

// HeaderMementoDatetime marks a response as a past state of its resource (RFC 7089): the time the
// store recorded the last event the state includes.
const HeaderMementoDatetime = "Memento-Datetime"

// orderAsOf answers GET /orders/{id} with as_of_version or as_of: the order rebuilt from the event
// store up to that point. A version past the order's last is a 404 too: the order has not been there.
//
// The answer has no ETag and may not be stored (no-store): it must never stand in for the current
// order, whose ETag is its version too, in a cache or in a client's If-None-Match.
func (h *handlers) orderAsOf(c echo.Context, id uuid.UUID, point asOf) error {
	stop := func(r eventstore.RecordedEvent) bool { return r.RecordedAt.After(point.Time) }
	if point.Version > 0 {
		stop = func(r eventstore.RecordedEvent) bool { return r.Version > point.Version }
	}
	order, last, err := h.fold(c.Request().Context(), id, stop)
	if err != nil {
		return err
	}
	if err := auth.FromContext(c.Request().Context()).CheckOwner(string(order.CustomerID())); err != nil {
		return err
	}
	if point.Version > 0 && last.Version < point.Version {
		return fmt.Errorf("order %s is at version %d, not yet at %d: %w", id, last.Version, point.Version, domain.ErrOrderNotFound)
	}
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set(HeaderMementoDatetime, last.RecordedAt.UTC().Format(http.TimeFormat))
	return c.JSON(http.StatusOK, newHistoricalOrder(order, last, point))
}
