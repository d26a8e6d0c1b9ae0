package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
)

// CustomerSummary projects, per customer, the number of orders in each status and the lifetime paid
// value per currency (rm_customer_summaries, rm_customer_paid). It keeps each order's customer, status
// and applied version in rm_customer_orders to move counts and to skip replays.
type CustomerSummary struct{}

func (CustomerSummary) Name() string       { return NameCustomerSummary }
func (CustomerSummary) SchemaVersion() int { return 1 }

func (CustomerSummary) Tables() []string {
	return []string{"rm_customer_summaries", "rm_customer_paid", "rm_customer_orders"}
}

func (CustomerSummary) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE rm_customer_summaries, rm_customer_paid, rm_customer_orders`)
	return err
}

// numStatuses is the number of statuses counted; statusIndex numbers them in the summary's column
// order.
const numStatuses = 6

func statusIndex(s string) (int, error) {
	switch domain.Status(s) {
	case domain.StatusDraft:
		return 0, nil
	case domain.StatusPlaced:
		return 1, nil
	case domain.StatusPaid:
		return 2, nil
	case domain.StatusShipped:
		return 3, nil
	case domain.StatusDelivered:
		return 4, nil
	case domain.StatusCancelled:
		return 5, nil
	}
	return 0, fmt.Errorf("unknown order status %q", s)
}

// customerOrder is a row of rm_customer_orders.
type customerOrder struct {
	customer, status, currency string
	version                    int64
	changed                    bool
}

// summaryDelta is what a batch adds to one customer's summary.
type summaryDelta struct {
	total     int
	byStatus  [numStatuses]int
	updatedAt time.Time
}

type paidKey struct{ customer, currency string }

// Apply folds the batch into per-order state and per-customer deltas, then writes each touched row
// once. Summaries are written as increments (count = count + delta), so they need not be read first.
func (CustomerSummary) Apply(ctx context.Context, db Querier, batch []eventstore.RecordedEvent, w *Writes) error {
	events, err := decodeOrderEvents(batch)
	if err != nil || len(events) == 0 {
		return err
	}
	ids := touched(events)
	orders := make(map[uuid.UUID]*customerOrder, len(ids))
	rows, err := db.Query(ctx, `SELECT order_id, customer_id, status, currency, version
FROM rm_customer_orders WHERE order_id = ANY($1)`, binaryIDs(ids))
	if err != nil {
		return fmt.Errorf("load customer orders: %w", err)
	}
	for rows.Next() {
		var (
			id uuid.UUID
			o  customerOrder
		)
		if err := rows.Scan((*[16]byte)(&id), &o.customer, &o.status, &o.currency, &o.version); err != nil {
			rows.Close()
			return fmt.Errorf("load customer orders: %w", err)
		}
		orders[id] = &o
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load customer orders: %w", err)
	}

	deltas := map[string]*summaryDelta{}
	var customers []string // in first-touched order, for deterministic writes
	delta := func(customer string, at time.Time) *summaryDelta {
		d, ok := deltas[customer]
		if !ok {
			d = &summaryDelta{}
			deltas[customer] = d
			customers = append(customers, customer)
		}
		d.updatedAt = at
		return d
	}
	paid := map[paidKey]int64{}
	var paidKeys []paidKey
	move := func(o *customerOrder, to domain.Status, at time.Time) error {
		from, err := statusIndex(o.status)
		if err != nil {
			return err
		}
		toIdx, err := statusIndex(string(to))
		if err != nil {
			return err
		}
		d := delta(o.customer, at)
		d.byStatus[from]--
		d.byStatus[toIdx]++
		o.status = string(to)
		return nil
	}

	for _, e := range events {
		o := orders[e.order]
		var applied int64
		if o != nil {
			applied = o.version
		}
		ok, err := fresh(applied, e)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if created, isCreated := e.event.(domain.OrderCreated); isCreated {
			if o != nil {
				return fmt.Errorf("event %s: order %s created twice", e.rec.ID, e.order)
			}
			o = &customerOrder{customer: created.CustomerID, status: string(domain.StatusDraft), currency: created.Currency}
			orders[e.order] = o
			d := delta(o.customer, created.At)
			d.total++
			d.byStatus[0]++
		}
		if o == nil {
			return fmt.Errorf("event %s: %s before OrderCreated in order %s", e.rec.ID, e.rec.Type, e.order)
		}
		switch ev := e.event.(type) {
		case domain.OrderPlaced:
			err = move(o, domain.StatusPlaced, ev.At)
		case domain.OrderPaid:
			if err = move(o, domain.StatusPaid, ev.At); err == nil {
				k := paidKey{o.customer, cmp.Or(ev.Currency, o.currency)}
				if _, seen := paid[k]; !seen {
					paidKeys = append(paidKeys, k)
				}
				paid[k] += ev.AmountCents
			}
		case domain.OrderShipped:
			err = move(o, domain.StatusShipped, ev.At)
		case domain.OrderDelivered:
			err = move(o, domain.StatusDelivered, ev.At)
		case domain.OrderCancelled:
			err = move(o, domain.StatusCancelled, ev.At)
		}
		if err != nil {
			return fmt.Errorf("event %s of order %s: %w", e.rec.ID, e.order, err)
		}
		o.version, o.changed = int64(e.rec.Version), true
	}

	type orderRow struct {
		OrderID  uuid.UUID `json:"order_id"`
		Customer string    `json:"customer_id"`
		Status   string    `json:"status"`
		Currency string    `json:"currency"`
		Version  int64     `json:"version"`
	}
	type summaryRow struct {
		Customer  string    `json:"customer_id"`
		Total     int       `json:"orders_total"`
		Draft     int       `json:"draft"`
		Placed    int       `json:"placed"`
		Paid      int       `json:"paid"`
		Shipped   int       `json:"shipped"`
		Delivered int       `json:"delivered"`
		Cancelled int       `json:"cancelled"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	type paidRow struct {
		Customer string `json:"customer_id"`
		Currency string `json:"currency"`
		Cents    int64  `json:"paid_cents"`
	}
	var (
		orderRows   []orderRow
		summaryRows []summaryRow
		paidRows    []paidRow
	)
	for _, id := range ids {
		if o := orders[id]; o.changed {
			orderRows = append(orderRows, orderRow{id, o.customer, o.status, o.currency, o.version})
		}
	}
	for _, c := range customers {
		d := deltas[c]
		s := d.byStatus
		summaryRows = append(summaryRows, summaryRow{c, d.total, s[0], s[1], s[2], s[3], s[4], s[5], d.updatedAt})
	}
	for _, k := range paidKeys {
		paidRows = append(paidRows, paidRow{k.customer, k.currency, paid[k]})
	}
	return errors.Join(
		queueRows(w, "rm_customer_orders", "order_id, customer_id, status, currency, version", orderRows,
			`ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, version = excluded.version`),
		queueRows(w, "rm_customer_summaries",
			"customer_id, orders_total, draft, placed, paid, shipped, delivered, cancelled, updated_at", summaryRows,
			`ON CONFLICT (customer_id) DO UPDATE SET
    orders_total = rm_customer_summaries.orders_total + excluded.orders_total,
    draft = rm_customer_summaries.draft + excluded.draft, placed = rm_customer_summaries.placed + excluded.placed,
    paid = rm_customer_summaries.paid + excluded.paid, shipped = rm_customer_summaries.shipped + excluded.shipped,
    delivered = rm_customer_summaries.delivered + excluded.delivered,
    cancelled = rm_customer_summaries.cancelled + excluded.cancelled, updated_at = excluded.updated_at`),
		queueRows(w, "rm_customer_paid", "customer_id, currency, paid_cents", paidRows,
			`ON CONFLICT (customer_id, currency) DO UPDATE SET paid_cents = rm_customer_paid.paid_cents + excluded.paid_cents`),
	)
}
