package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
)

// Orders projects one row per order into rm_orders and its lines into rm_order_items.
type Orders struct{}

func (Orders) Name() string       { return NameOrders }
func (Orders) SchemaVersion() int { return 1 }

func (Orders) Tables() []string { return []string{"rm_orders", "rm_order_items"} }

func (Orders) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE rm_orders, rm_order_items`)
	return err
}

// orderRow is a row of rm_orders; the order of its fields is orderColumns'.
type orderRow struct {
	OrderID          uuid.UUID  `json:"order_id"`
	CustomerID       string     `json:"customer_id"`
	Status           string     `json:"status"`
	Currency         string     `json:"currency"`
	TotalCents       int64      `json:"total_cents"`
	ItemCount        int64      `json:"item_count"`
	LineCount        int32      `json:"line_count"`
	ShipName         *string    `json:"ship_name"`
	ShipLine1        *string    `json:"ship_line1"`
	ShipLine2        *string    `json:"ship_line2"`
	ShipCity         *string    `json:"ship_city"`
	ShipPostalCode   *string    `json:"ship_postal_code"`
	ShipCountry      *string    `json:"ship_country"`
	PaymentReference *string    `json:"payment_reference"`
	PaidCents        *int64     `json:"paid_cents"`
	Carrier          *string    `json:"carrier"`
	TrackingNumber   *string    `json:"tracking_number"`
	CancelReason     *string    `json:"cancel_reason"`
	Version          int64      `json:"version"`
	Position         string     `json:"position"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	PlacedAt         *time.Time `json:"placed_at"`
	PaidAt           *time.Time `json:"paid_at"`
	ShippedAt        *time.Time `json:"shipped_at"`
	DeliveredAt      *time.Time `json:"delivered_at"`
	CancelledAt      *time.Time `json:"cancelled_at"`
}

const orderColumns = `order_id, customer_id, status, currency, total_cents, item_count, line_count,
    ship_name, ship_line1, ship_line2, ship_city, ship_postal_code, ship_country,
    payment_reference, paid_cents, carrier, tracking_number, cancel_reason,
    version, position, created_at, updated_at, placed_at, paid_at, shipped_at, delivered_at, cancelled_at`

func (r *orderRow) fields() []any {
	return []any{(*[16]byte)(&r.OrderID), &r.CustomerID, &r.Status, &r.Currency, &r.TotalCents, &r.ItemCount, &r.LineCount,
		&r.ShipName, &r.ShipLine1, &r.ShipLine2, &r.ShipCity, &r.ShipPostalCode, &r.ShipCountry,
		&r.PaymentReference, &r.PaidCents, &r.Carrier, &r.TrackingNumber, &r.CancelReason,
		&r.Version, &r.Position, &r.CreatedAt, &r.UpdatedAt, &r.PlacedAt, &r.PaidAt, &r.ShippedAt, &r.DeliveredAt, &r.CancelledAt}
}

// The version guard makes a stale write a no-op rather than a regression; with the runner's
// checkpoint lock it never fires.
const upsertOrderTail = `ON CONFLICT (order_id) DO UPDATE SET
    customer_id = excluded.customer_id, status = excluded.status, currency = excluded.currency,
    total_cents = excluded.total_cents, item_count = excluded.item_count, line_count = excluded.line_count,
    ship_name = excluded.ship_name, ship_line1 = excluded.ship_line1, ship_line2 = excluded.ship_line2,
    ship_city = excluded.ship_city, ship_postal_code = excluded.ship_postal_code, ship_country = excluded.ship_country,
    payment_reference = excluded.payment_reference, paid_cents = excluded.paid_cents,
    carrier = excluded.carrier, tracking_number = excluded.tracking_number, cancel_reason = excluded.cancel_reason,
    version = excluded.version, position = excluded.position,
    created_at = excluded.created_at, updated_at = excluded.updated_at,
    placed_at = excluded.placed_at, paid_at = excluded.paid_at, shipped_at = excluded.shipped_at,
    delivered_at = excluded.delivered_at, cancelled_at = excluded.cancelled_at
WHERE rm_orders.version < excluded.version`

// itemRow is a row of rm_order_items.
type itemRow struct {
	OrderID        uuid.UUID `json:"order_id"`
	SKU            string    `json:"sku"`
	Name           string    `json:"name"`
	Quantity       int64     `json:"quantity"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	LineNo         int32     `json:"line_no"`
	changed        bool
}

const itemColumns = `order_id, sku, name, quantity, unit_price_cents, line_no`

// itemKey names a line to delete.
type itemKey struct {
	OrderID uuid.UUID `json:"order_id"`
	SKU     string    `json:"sku"`
}

// orderState is an order being folded: its row, its lines, and what the batch changed.
type orderState struct {
	row     *orderRow // nil until the order exists
	items   map[string]*itemRow
	removed map[string]bool // SKUs whose rows must go
	changed bool
	stored  bool // the table held the order or some of its lines when the batch read them
}

// Apply folds the batch per order in memory, starting from the rows as stored, and then writes each
// changed order and line once: a busy order costs one upsert per batch, not one per event.
func (Orders) Apply(ctx context.Context, db Querier, batch []eventstore.RecordedEvent, w *Writes) error {
	events, err := decodeOrderEvents(batch)
	if err != nil || len(events) == 0 {
		return err
	}
	ids := touched(events)
	orders, err := loadOrders(ctx, db, ids)
	if err != nil {
		return err
	}
	for _, e := range events {
		o := orders[e.order]
		var applied int64
		if o.row != nil {
			applied = o.row.Version
		}
		ok, err := fresh(applied, e)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := o.apply(e); err != nil {
			return err
		}
	}

	var (
		rows, created   []*orderRow
		items, newItems []*itemRow
		removed         []itemKey
	)
	for _, id := range ids {
		o := orders[id]
		if !o.changed {
			continue
		}
		o.row.truncateTimes()
		if o.stored {
			rows = append(rows, o.row)
		} else {
			created = append(created, o.row)
		}
		// An order the table did not hold has no lines there to delete: without this check, every
		// batch of a rebuild sent a DELETE (5 ms each, for nothing) for lines added and removed in it.
		for sku := range o.removed {
			if o.stored {
				removed = append(removed, itemKey{OrderID: id, SKU: sku})
			}
		}
		for _, it := range o.items {
			if !it.changed {
				continue
			}
			it.OrderID = id
			if o.stored {
				items = append(items, it)
			} else {
				newItems = append(newItems, it)
			}
		}
	}
	// The projection's advisory lock makes this process the only writer of the tables, so rows that
	// were not there when the batch read them are not there now. In the moment of a take-over a second owner
	// may write them first: COPY then fails on the key, and the batch fails, to be fenced off by the
	// checkpoint (see worker.step).
	if len(created) < copyFrom {
		rows, items, created, newItems = append(rows, created...), append(items, newItems...), nil, nil
	}
	if err := queueRows(w, "rm_orders", orderColumns, rows, upsertOrderTail); err != nil {
		return err
	}
	if len(removed) > 0 {
		data, err := json.Marshal(removed)
		if err != nil {
			return fmt.Errorf("encode removed lines: %w", err)
		}
		w.Queue(`DELETE FROM rm_order_items i USING jsonb_to_recordset($1::jsonb) AS d(order_id uuid, sku text)
WHERE i.order_id = d.order_id AND i.sku = d.sku`, string(data))
	}
	if err := queueRows(w, "rm_order_items", itemColumns, items, `ON CONFLICT (order_id, sku) DO UPDATE SET
    name = excluded.name, quantity = excluded.quantity, unit_price_cents = excluded.unit_price_cents,
    line_no = excluded.line_no`); err != nil {
		return err
	}
	if len(created) == 0 {
		return nil
	}
	w.Copy(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rm_orders"}, columnList(orderColumns), copyRows(created, (*orderRow).values)); err != nil {
			return fmt.Errorf("write new orders: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rm_order_items"}, columnList(itemColumns), copyRows(newItems, (*itemRow).values)); err != nil {
			return fmt.Errorf("write lines of new orders: %w", err)
		}
		return nil
	})
	return nil
}

// truncateTimes cuts r's times to the microseconds PostgreSQL keeps. Events carry nanoseconds, and
// left to PostgreSQL the upsert's JSON would round them where COPY truncates them: an order would
// read differently depending on the size of the batch that wrote it.
func (r *orderRow) truncateTimes() {
	for _, t := range []*time.Time{&r.CreatedAt, &r.UpdatedAt, r.PlacedAt, r.PaidAt, r.ShippedAt, r.DeliveredAt, r.CancelledAt} {
		if t != nil {
			*t = t.Truncate(time.Microsecond)
		}
	}
}

// values are r's columns in orderColumns' order, as COPY takes them.
func (r *orderRow) values() []any {
	// uuid.UUID as [16]byte: pgx writes it in binary rather than through its text form.
	return []any{[16]byte(r.OrderID), r.CustomerID, r.Status, r.Currency, r.TotalCents, r.ItemCount, r.LineCount,
		r.ShipName, r.ShipLine1, r.ShipLine2, r.ShipCity, r.ShipPostalCode, r.ShipCountry,
		r.PaymentReference, r.PaidCents, r.Carrier, r.TrackingNumber, r.CancelReason,
		r.Version, r.Position, r.CreatedAt, r.UpdatedAt, r.PlacedAt, r.PaidAt, r.ShippedAt, r.DeliveredAt, r.CancelledAt}
}

// values are it's columns in itemColumns' order, as COPY takes them.
func (it *itemRow) values() []any {
	return []any{[16]byte(it.OrderID), it.SKU, it.Name, it.Quantity, it.UnitPriceCents, it.LineNo}
}

// loadOrders reads the stored rows and lines of ids, in one round trip.
func loadOrders(ctx context.Context, db Querier, ids []uuid.UUID) (map[uuid.UUID]*orderState, error) {
	orders := make(map[uuid.UUID]*orderState, len(ids))
	for _, id := range ids {
		orders[id] = &orderState{items: map[string]*itemRow{}, removed: map[string]bool{}}
	}
	var b pgx.Batch
	b.Queue(`SELECT `+orderColumns+` FROM rm_orders WHERE order_id = ANY($1)`, binaryIDs(ids)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var r orderRow
			if err := rows.Scan(r.fields()...); err != nil {
				return err
			}
			orders[r.OrderID].row, orders[r.OrderID].stored = &r, true
		}
		return rows.Err()
	})
	b.Queue(`SELECT `+itemColumns+` FROM rm_order_items WHERE order_id = ANY($1)`,
		binaryIDs(ids)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var it itemRow
			if err := rows.Scan((*[16]byte)(&it.OrderID), &it.SKU, &it.Name, &it.Quantity, &it.UnitPriceCents, &it.LineNo); err != nil {
				return err
			}
			o := orders[it.OrderID]
			o.items[it.SKU], o.stored = &it, true
		}
		return rows.Err()
	})
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("load orders: %w", err)
	}
	return orders, nil
}

// apply folds one fresh event into the order, as domain.Order.Apply does.
func (o *orderState) apply(e orderEvent) error {
	if created, ok := e.event.(domain.OrderCreated); ok {
		if o.row != nil {
			return fmt.Errorf("event %s: order %s created twice", e.rec.ID, e.order)
		}
		o.row = &orderRow{
			OrderID:    e.order,
			CustomerID: created.CustomerID,
			Status:     string(domain.StatusDraft),
			Currency:   created.Currency,
			CreatedAt:  created.At,
		}
	}
	if o.row == nil {
		// fresh lets only version 1 through for an order without a row, and that is OrderCreated.
		return fmt.Errorf("event %s: %s before OrderCreated in order %s", e.rec.ID, e.rec.Type, e.order)
	}
	r := o.row
	switch ev := e.event.(type) {
	case domain.OrderCreated:
		r.UpdatedAt = ev.At
	case domain.ItemAdded:
		if it, ok := o.items[ev.SKU]; ok {
			it.Quantity += ev.Quantity
			it.changed = true
		} else {
			o.items[ev.SKU] = &itemRow{SKU: ev.SKU, Name: ev.Name, Quantity: ev.Quantity,
				UnitPriceCents: ev.UnitPriceCents, LineNo: o.nextLineNo(), changed: true}
			delete(o.removed, ev.SKU)
		}
		o.retotal()
		r.UpdatedAt = ev.At
	case domain.ItemRemoved:
		if _, ok := o.items[ev.SKU]; ok {
			delete(o.items, ev.SKU)
			o.removed[ev.SKU] = true
		}
		o.retotal()
		r.UpdatedAt = ev.At
	case domain.ShippingAddressSet:
		r.ShipName, r.ShipLine1, r.ShipLine2 = &ev.Name, &ev.Line1, nonEmpty(ev.Line2)
		r.ShipCity, r.ShipPostalCode, r.ShipCountry = &ev.City, &ev.PostalCode, &ev.Country
		r.UpdatedAt = ev.At
	case domain.OrderPlaced:
		// The event's figures are what the customer agreed to; the lines are frozen from here on.
		r.Status, r.TotalCents, r.ItemCount = string(domain.StatusPlaced), ev.TotalCents, ev.ItemCount
		r.PlacedAt, r.UpdatedAt = &ev.At, ev.At
	case domain.OrderPaid:
		r.Status, r.PaymentReference, r.PaidCents = string(domain.StatusPaid), &ev.PaymentReference, &ev.AmountCents
		r.PaidAt, r.UpdatedAt = &ev.At, ev.At
	case domain.OrderShipped:
		r.Status, r.Carrier, r.TrackingNumber = string(domain.StatusShipped), &ev.Carrier, &ev.TrackingNumber
		r.ShippedAt, r.UpdatedAt = &ev.At, ev.At
	case domain.OrderDelivered:
		r.Status = string(domain.StatusDelivered)
		r.DeliveredAt, r.UpdatedAt = &ev.At, ev.At
	case domain.OrderCancelled:
		r.Status, r.CancelReason = string(domain.StatusCancelled), &ev.Reason
		r.CancelledAt, r.UpdatedAt = &ev.At, ev.At
	default:
		// UnmarshalEvent only returns the types above; a new one must be handled here.
		return fmt.Errorf("event %s: no handler for %T", e.rec.ID, e.event)
	}
	r.Version, r.Position = int64(e.rec.Version), e.rec.Position.String()
	o.changed = true
	return nil
}

// nextLineNo numbers a new line after every line the order has now.
func (o *orderState) nextLineNo() int32 {
	var n int32
	for _, it := range o.items {
		n = max(n, it.LineNo)
	}
	return n + 1
}

// retotal derives the draft's totals from its lines.
func (o *orderState) retotal() {
	var total, count int64
	for _, it := range o.items {
		total += it.Quantity * it.UnitPriceCents
		count += it.Quantity
	}
	o.row.TotalCents, o.row.ItemCount, o.row.LineCount = total, count, int32(len(o.items))
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
