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

// DailySales projects, per UTC day and currency, the orders placed, paid and cancelled and the paid
// revenue (rm_daily_sales). The day is that of the event's own time. It keeps each order's currency,
// which OrderCancelled does not carry, and its applied version in rm_sales_orders.
type DailySales struct{}

func (DailySales) Name() string       { return NameDailySales }
func (DailySales) SchemaVersion() int { return 1 }

func (DailySales) Tables() []string { return []string{"rm_daily_sales", "rm_sales_orders"} }

func (DailySales) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE rm_daily_sales, rm_sales_orders`)
	return err
}

type salesOrder struct {
	currency string
	version  int64
	changed  bool
}

type salesKey struct {
	day      time.Time // midnight UTC
	currency string
}

type salesDelta struct{ placed, paid, cancelled, revenue int64 }

// Apply folds the batch into per-day increments and writes each touched day once.
func (DailySales) Apply(ctx context.Context, db Querier, batch []eventstore.RecordedEvent, w *Writes) error {
	events, err := decodeOrderEvents(batch)
	if err != nil || len(events) == 0 {
		return err
	}
	ids := touched(events)
	orders := make(map[uuid.UUID]*salesOrder, len(ids))
	rows, err := db.Query(ctx, `SELECT order_id, currency, version FROM rm_sales_orders WHERE order_id = ANY($1)`, binaryIDs(ids))
	if err != nil {
		return fmt.Errorf("load sales orders: %w", err)
	}
	for rows.Next() {
		var (
			id uuid.UUID
			o  salesOrder
		)
		if err := rows.Scan((*[16]byte)(&id), &o.currency, &o.version); err != nil {
			rows.Close()
			return fmt.Errorf("load sales orders: %w", err)
		}
		orders[id] = &o
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load sales orders: %w", err)
	}

	deltas := map[salesKey]*salesDelta{}
	var keys []salesKey
	delta := func(at time.Time, currency string) *salesDelta {
		at = at.UTC()
		k := salesKey{time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC), currency}
		d, ok := deltas[k]
		if !ok {
			d = &salesDelta{}
			deltas[k] = d
			keys = append(keys, k)
		}
		return d
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
			o = &salesOrder{currency: created.Currency}
			orders[e.order] = o
		}
		if o == nil {
			return fmt.Errorf("event %s: %s before OrderCreated in order %s", e.rec.ID, e.rec.Type, e.order)
		}
		switch ev := e.event.(type) {
		case domain.OrderPlaced:
			delta(ev.At, cmp.Or(ev.Currency, o.currency)).placed++
		case domain.OrderPaid:
			d := delta(ev.At, cmp.Or(ev.Currency, o.currency))
			d.paid++
			d.revenue += ev.AmountCents
		case domain.OrderCancelled:
			delta(ev.At, o.currency).cancelled++
		}
		o.version, o.changed = int64(e.rec.Version), true
	}

	type orderRow struct {
		OrderID  uuid.UUID `json:"order_id"`
		Currency string    `json:"currency"`
		Version  int64     `json:"version"`
	}
	type dayRow struct {
		Day       string `json:"day"`
		Currency  string `json:"currency"`
		Placed    int64  `json:"orders_placed"`
		Paid      int64  `json:"orders_paid"`
		Cancelled int64  `json:"orders_cancelled"`
		Revenue   int64  `json:"paid_revenue_cents"`
	}
	var (
		orderRows []orderRow
		dayRows   []dayRow
	)
	for _, id := range ids {
		if o := orders[id]; o.changed {
			orderRows = append(orderRows, orderRow{id, o.currency, o.version})
		}
	}
	for _, k := range keys {
		d := deltas[k]
		dayRows = append(dayRows, dayRow{k.day.Format(time.DateOnly), k.currency, d.placed, d.paid, d.cancelled, d.revenue})
	}
	return errors.Join(
		queueRows(w, "rm_sales_orders", "order_id, currency, version", orderRows,
			`ON CONFLICT (order_id) DO UPDATE SET version = excluded.version`),
		queueRows(w, "rm_daily_sales", "day, currency, orders_placed, orders_paid, orders_cancelled, paid_revenue_cents", dayRows,
			`ON CONFLICT (day, currency) DO UPDATE SET
    orders_placed = rm_daily_sales.orders_placed + excluded.orders_placed,
    orders_paid = rm_daily_sales.orders_paid + excluded.orders_paid,
    orders_cancelled = rm_daily_sales.orders_cancelled + excluded.orders_cancelled,
    paid_revenue_cents = rm_daily_sales.paid_revenue_cents + excluded.paid_revenue_cents`),
	)
}
