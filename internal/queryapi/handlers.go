package queryapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// DefaultPageSize is the page size of GET /orders without limit.
const DefaultPageSize = 50

type handlers struct {
	read     reader
	progress progress
	orders   *orderCache
	maxWait  time.Duration
	// events and storeTimeout serve the audit trail (history.go).
	events       streamReader
	storeTimeout time.Duration
	metrics      *Metrics
}

// Response bodies that are more than a view.
type (
	orderList struct {
		Orders     []readmodel.OrderSummary `json:"orders"`
		NextCursor *string                  `json:"next_cursor"`
	}
	salesList struct {
		Sales []readmodel.DailySales `json:"sales"`
	}
	projectionList struct {
		Projections []readmodel.Projection `json:"projections"`
	}
)

func (h *handlers) getOrder(c echo.Context) error {
	var f httpapi.Fields
	id := orderIDParam(c, &f)
	q := queryParams(c, &f, "as_of_version", "as_of")
	point, historical := asOfParams(q, &f)
	cons := h.readConsistency(c, q, &f)
	if err := f.Err(); err != nil {
		return err
	}
	if historical {
		return h.orderAsOf(c, id, point)
	}
	if err := h.await(c, cons, readmodel.ProjectionOrders); err != nil {
		return err
	}
	order, pos, err := h.orders.get(c.Request().Context(), id, cons.min)
	if err != nil {
		if errors.Is(err, domain.ErrOrderNotFound) {
			if err := served(c, cons, pos); err != nil {
				return err // not found, but at a position older than the one asked for
			}
		}
		return err
	}
	if err := auth.FromContext(c.Request().Context()).CheckOwner(order.customerID); err != nil {
		return err
	}
	if err := served(c, cons, pos); err != nil {
		return err
	}
	hdr := c.Response().Header()
	hdr.Set("ETag", order.etag)
	// Caches may keep the order but must ask again before using it: it changes at any time.
	hdr.Set("Cache-Control", "no-cache")
	if etagMatches(c.Request().Header.Get("If-None-Match"), order.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSONBlob(http.StatusOK, order.body)
}

func (h *handlers) listOrders(c echo.Context) error {
	var f httpapi.Fields
	q := queryParams(c, &f, "customer_id", "status", "limit", "cursor")
	filter := readmodel.OrderFilter{Limit: DefaultPageSize}
	if v, ok := q["customer_id"]; ok {
		id, err := domain.NewCustomerID(v)
		if err != nil {
			f.Add("customer_id", err)
		}
		filter.CustomerID = string(id)
	}
	if v, ok := q["status"]; ok {
		switch domain.Status(v) {
		case domain.StatusDraft, domain.StatusPlaced, domain.StatusPaid, domain.StatusShipped, domain.StatusDelivered, domain.StatusCancelled:
			filter.Status = v
		default:
			f.Addf("status", "must be one of draft, placed, paid, shipped, delivered, cancelled")
		}
	}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > readmodel.MaxOrdersPerPage {
			f.Addf("limit", "must be a whole number from 1 to %d", readmodel.MaxOrdersPerPage)
		}
		filter.Limit = n
	}
	if v, ok := q["cursor"]; ok {
		at, id, err := decodeCursor(v)
		if err != nil {
			f.Add("cursor", err)
		}
		filter.After = &readmodel.OrderKey{CreatedAt: at, OrderID: id}
	}
	cons := h.readConsistency(c, q, &f)
	if err := f.Err(); err != nil {
		return err
	}
	// A customer lists its own orders: without customer_id, or with its own.
	if own := auth.FromContext(c.Request().Context()).OwnCustomer(); own != "" {
		if filter.CustomerID != "" && filter.CustomerID != own {
			return fmt.Errorf("%w: customer_id names another customer", auth.ErrForbidden)
		}
		filter.CustomerID = own
	}
	if err := h.await(c, cons, readmodel.ProjectionOrders); err != nil {
		return err
	}

	page, pos, err := h.read.Orders(c.Request().Context(), filter)
	if err != nil {
		return err
	}
	if err := served(c, cons, pos); err != nil {
		return err
	}
	body := orderList{Orders: page.Orders}
	if page.More {
		last := page.Orders[len(page.Orders)-1]
		next := encodeCursor(last.CreatedAt, last.OrderID)
		body.NextCursor = &next
	}
	return c.JSON(http.StatusOK, body)
}

func (h *handlers) customerSummary(c echo.Context) error {
	var f httpapi.Fields
	var id domain.CustomerID
	raw, err := pathParam(c, "id")
	if err == nil {
		id, err = domain.NewCustomerID(raw)
	}
	if err != nil {
		f.Add("id", err)
	}
	cons := h.readConsistency(c, queryParams(c, &f), &f)
	if err := f.Err(); err != nil {
		return err
	}
	if err := auth.FromContext(c.Request().Context()).CheckOwner(string(id)); err != nil {
		return err
	}
	if err := h.await(c, cons, readmodel.ProjectionCustomerSummary); err != nil {
		return err
	}
	summary, pos, err := h.read.CustomerSummary(c.Request().Context(), string(id))
	if err != nil {
		if errors.Is(err, readmodel.ErrCustomerNotFound) {
			if err := served(c, cons, pos); err != nil {
				return err
			}
		}
		return err
	}
	if err := served(c, cons, pos); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, summary)
}

func (h *handlers) dailySales(c echo.Context) error {
	var f httpapi.Fields
	q := queryParams(c, &f, "from", "to", "currency")
	from, okFrom := dateParam(q, "from", &f)
	to, okTo := dateParam(q, "to", &f)
	if okFrom && okTo {
		switch days := int(to.Sub(from)/(24*time.Hour)) + 1; {
		case days < 1:
			f.Addf("to", "must not be before from")
		case days > readmodel.MaxSalesDays:
			f.Addf("to", "must make a range of at most %d days, from and to included", readmodel.MaxSalesDays)
		}
	}
	filter := readmodel.SalesFilter{From: from, To: to}
	if v, ok := q["currency"]; ok {
		cur, err := domain.ParseCurrency(v)
		if err != nil {
			f.Add("currency", err)
		}
		filter.Currency = string(cur)
	}
	cons := h.readConsistency(c, q, &f)
	if err := f.Err(); err != nil {
		return err
	}
	if err := h.await(c, cons, readmodel.ProjectionDailySales); err != nil {
		return err
	}
	sales, pos, err := h.read.DailySales(c.Request().Context(), filter)
	if err != nil {
		return err
	}
	if err := served(c, cons, pos); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, salesList{Sales: sales})
}

// dateParam reads a required YYYY-MM-DD query parameter.
func dateParam(q map[string]string, name string, f *httpapi.Fields) (time.Time, bool) {
	v, ok := q[name]
	if !ok {
		f.Addf(name, "is required")
		return time.Time{}, false
	}
	d, err := time.Parse(readmodel.DateLayout, v)
	if err != nil {
		f.Addf(name, "must be a date such as 2026-01-31")
		return time.Time{}, false
	}
	return d, true
}

// projections lists every projection's progress. Its position is the least of theirs, and with
// X-Min-Position it waits for each projection that is behind.
func (h *handlers) projections(c echo.Context) error {
	var f httpapi.Fields
	cons := h.readConsistency(c, queryParams(c, &f), &f)
	if err := f.Err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, err := h.read.Projections(ctx)
	if err != nil {
		return err
	}
	if cons.wait {
		deadline := time.Now().Add(cons.patience)
		waited := false
		for _, p := range list {
			if p.Position.Compare(cons.min) >= 0 {
				continue
			}
			waited = true
			wait := cons
			wait.patience = max(time.Until(deadline), 0)
			if err := h.await(c, wait, p.Name); err != nil {
				return err
			}
		}
		if waited {
			if list, err = h.read.Projections(ctx); err != nil {
				return err
			}
		}
	}
	setPosition(c, minPosition(list))
	return c.JSON(http.StatusOK, projectionList{Projections: list})
}

// minPosition is the least position of the projections, or the start of the log if there are none.
func minPosition(list []readmodel.Projection) eventstore.Position {
	if len(list) == 0 {
		return eventstore.Position{}
	}
	low := list[0].Position
	for _, p := range list[1:] {
		if p.Position.Compare(low) < 0 {
			low = p.Position
		}
	}
	return low
}
