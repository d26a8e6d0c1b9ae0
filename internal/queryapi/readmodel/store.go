package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	segjson "github.com/segmentio/encoding/json"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
)

// db is what Store needs of PostgreSQL: *pgxpool.Pool, or a wrapper of one (tests count queries).
type db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Store reads the read models. It is safe for concurrent use.
type Store struct {
	db      db
	timeout time.Duration
}

// DefaultTimeout bounds each read when NewStore is given no timeout.
const DefaultTimeout = 3 * time.Second

// NewStore returns a Store reading through db. Every read gets its own deadline of timeout (on top
// of any the caller's ctx has); zero means DefaultTimeout.
func NewStore(db db, timeout time.Duration) *Store {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Store{db: db, timeout: timeout}
}

// checkpointSQL selects the position of the projection named by the statement's parameter $1; the
// start of the log before its first batch.
const checkpointSQL = `SELECT coalesce((SELECT position FROM projection_checkpoints WHERE name = $1), '0:0')`

// Order returns an order with its items, and the position of the orders projection its data
// reflects. An order that is not in the read model (yet) is an error wrapping
// domain.ErrOrderNotFound, returned with the position at which it was not there.
//
// It is one statement, so one snapshot and one round trip: the hot path of the API.
func (s *Store) Order(ctx context.Context, id uuid.UUID) (*Order, eventstore.Position, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// The order comes from a LEFT JOIN on the checkpoint so that a missing order still yields the
	// position at which it was missing, from the same snapshot.
	const q = `SELECT cp.position, ` + orderColumns + `,
	(SELECT coalesce(json_agg(json_build_object(
			'sku', i.sku, 'name', i.name, 'quantity', i.quantity, 'unit_price_cents', i.unit_price_cents,
			'line_total_cents', i.quantity::bigint * i.unit_price_cents) ORDER BY i.line_no), '[]'::json)
		FROM rm_order_items i WHERE i.order_id = o.order_id)
FROM (SELECT coalesce((SELECT position FROM projection_checkpoints WHERE name = $1), '0:0') AS position) AS cp
LEFT JOIN rm_orders o ON o.order_id = $2`
	var (
		cp        string
		row       orderRow
		itemsJSON []byte
		items     []Item
	)
	dest := append(append([]any{&cp}, row.dest()...), &itemsJSON)
	// The ID goes as [16]byte, which pgx writes in binary at once: a uuid.UUID would go through its
	// driver.Valuer, a text form that pgx fails to encode in binary before it parses it back (about
	// 6 % of the service's CPU on cache misses).
	if err := s.db.QueryRow(ctx, q, ProjectionOrders, [16]byte(id)).Scan(dest...); err != nil {
		return nil, eventstore.Position{}, fmt.Errorf("read order %s: %w", id, translate(err))
	}
	// The items are scanned as bytes and decoded here: into []Item, pgx decodes them with
	// encoding/json, a tenth of the service's CPU on cache misses (segmentio's decoder is several
	// times faster at the same job).
	if err := segjson.Unmarshal(itemsJSON, &items); err != nil {
		return nil, eventstore.Position{}, fmt.Errorf("read order %s: items: %w", id, err)
	}
	pos, err := parsePosition(ProjectionOrders, cp)
	if err != nil {
		return nil, eventstore.Position{}, err
	}
	if row.orderID == nil {
		return nil, pos, fmt.Errorf("order %s is not in the read model at %s: %w", id, pos, domain.ErrOrderNotFound)
	}
	summary, err := row.summary()
	if err != nil {
		return nil, eventstore.Position{}, err
	}
	if items == nil {
		items = []Item{}
	}
	return &Order{OrderSummary: summary, Items: items}, pos, nil
}

// Orders returns a page of orders, newest first by (created_at, order_id), and the position of the
// orders projection it reflects.
func (s *Store) Orders(ctx context.Context, f OrderFilter) (OrderPage, eventstore.Position, error) {
	if f.Limit < 1 || f.Limit > MaxOrdersPerPage {
		return OrderPage{}, eventstore.Position{}, fmt.Errorf("list orders: limit %d is outside 1..%d", f.Limit, MaxOrdersPerPage)
	}
	// Conditions are only added for the filters given, rather than "$1 IS NULL OR customer_id = $1",
	// so that each combination gets a plan using its index: (customer_id, created_at, order_id),
	// (status, created_at, order_id) or (created_at, order_id). The row comparison is the keyset
	// condition those indexes serve directly.
	var (
		where []string
		args  []any
	)
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.CustomerID != "" {
		where = append(where, "o.customer_id = "+arg(f.CustomerID))
	}
	if f.Status != "" {
		where = append(where, "o.status = "+arg(f.Status))
	}
	if f.After != nil {
		where = append(where, "(o.created_at, o.order_id) < ("+arg(f.After.CreatedAt)+"::timestamptz, "+arg([16]byte(f.After.OrderID))+"::uuid)")
	}
	q := "SELECT " + orderColumns + " FROM rm_orders o"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	// One more than asked, to learn whether another page follows without counting.
	q += " ORDER BY o.created_at DESC, o.order_id DESC LIMIT " + arg(f.Limit+1)

	var page OrderPage
	pos, err := s.snapshot(ctx, ProjectionOrders, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		page.Orders = make([]OrderSummary, 0, min(f.Limit, 64))
		var row orderRow
		_, err = pgx.ForEachRow(rows, row.dest(), func() error {
			o, err := row.summary()
			if err != nil {
				return err
			}
			page.Orders = append(page.Orders, o)
			return nil
		})
		return err
	})
	if err != nil {
		return OrderPage{}, eventstore.Position{}, fmt.Errorf("list orders: %w", err)
	}
	if len(page.Orders) > f.Limit {
		page.Orders, page.More = page.Orders[:f.Limit], true
	}
	return page, pos, nil
}

// CustomerSummary returns a customer's summary and the position of the customer_summary projection
// it reflects. A customer without projected orders is an error wrapping ErrCustomerNotFound,
// returned with the position.
func (s *Store) CustomerSummary(ctx context.Context, customerID string) (*CustomerSummary, eventstore.Position, error) {
	const (
		summaryQ = `SELECT customer_id, orders_total, draft, placed, paid, shipped, delivered, cancelled, updated_at
FROM rm_customer_summaries WHERE customer_id = $1`
		// Bounded by the number of currencies.
		paidQ = `SELECT currency, paid_cents FROM rm_customer_paid WHERE customer_id = $1 ORDER BY currency LIMIT 1000`
	)
	var (
		sum   CustomerSummary
		found bool
	)
	pos, err := s.snapshot(ctx, ProjectionCustomerSummary, func(ctx context.Context, tx pgx.Tx) error {
		c := &sum.OrdersByStatus
		err := tx.QueryRow(ctx, summaryQ, customerID).Scan(&sum.CustomerID, &sum.OrdersTotal,
			&c.Draft, &c.Placed, &c.Paid, &c.Shipped, &c.Delivered, &c.Cancelled, &sum.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		rows, err := tx.Query(ctx, paidQ, customerID)
		if err != nil {
			return err
		}
		sum.LifetimePaid, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CurrencyPaid, error) {
			var p CurrencyPaid
			return p, r.Scan(&p.Currency, &p.PaidCents)
		})
		return err
	})
	if err != nil {
		return nil, eventstore.Position{}, fmt.Errorf("read customer summary: %w", err)
	}
	if !found {
		return nil, pos, fmt.Errorf("customer %q has no orders in the read model at %s: %w", customerID, pos, ErrCustomerNotFound)
	}
	if sum.LifetimePaid == nil {
		sum.LifetimePaid = []CurrencyPaid{}
	}
	sum.UpdatedAt = sum.UpdatedAt.UTC()
	return &sum, pos, nil
}

// DailySales returns the sales of the days in f, by day and currency, and the position of the
// daily_sales projection they reflect. Days without sales have no rows.
func (s *Store) DailySales(ctx context.Context, f SalesFilter) ([]DailySales, eventstore.Position, error) {
	if f.To.Before(f.From) || f.To.Sub(f.From) >= MaxSalesDays*24*time.Hour {
		return nil, eventstore.Position{}, fmt.Errorf("read daily sales: %s to %s is not a range of 1 to %d days",
			f.From.Format(DateLayout), f.To.Format(DateLayout), MaxSalesDays)
	}
	q := `SELECT day, currency, orders_placed, orders_paid, orders_cancelled, paid_revenue_cents
FROM rm_daily_sales WHERE day BETWEEN $1::date AND $2::date`
	args := []any{f.From, f.To}
	if f.Currency != "" {
		q += " AND currency = $3"
		args = append(args, f.Currency)
	}
	q += " ORDER BY day, currency"

	var sales []DailySales
	pos, err := s.snapshot(ctx, ProjectionDailySales, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		sales, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DailySales, error) {
			var (
				d   DailySales
				day time.Time
			)
			err := r.Scan(&day, &d.Currency, &d.OrdersPlaced, &d.OrdersPaid, &d.OrdersCancelled, &d.PaidRevenueCents)
			d.Day = day.Format(DateLayout)
			return d, err
		})
		return err
	})
	if err != nil {
		return nil, eventstore.Position{}, fmt.Errorf("read daily sales: %w", err)
	}
	if sales == nil {
		sales = []DailySales{}
	}
	return sales, pos, nil
}

// Projections returns every projection that has a checkpoint or a status, by name.
func (s *Store) Projections(ctx context.Context) ([]Projection, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// A FULL JOIN: a projection that has failed before its first checkpoint still shows, and so does
	// one whose status row the projector has not written yet.
	const q = `SELECT coalesce(c.name, s.name), coalesce(c.schema_version, s.schema_version),
	coalesce(s.state, 'unknown'), coalesce(c.position, '0:0'), s.head_position, s.lag_events, s.lag_seconds,
	s.last_error, s.error_position, coalesce(s.error_count, 0), s.owner, greatest(c.updated_at, s.updated_at)
FROM projection_checkpoints c FULL JOIN projection_status s ON s.name = c.name
ORDER BY 1 LIMIT 1000`
	rows, err := s.db.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read projections: %w", translate(err))
	}
	projections, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Projection, error) {
		var (
			p   Projection
			pos string
		)
		if err := r.Scan(&p.Name, &p.SchemaVersion, &p.State, &pos, &p.HeadPosition, &p.LagEvents, &p.LagSeconds,
			&p.LastError, &p.ErrorPosition, &p.ErrorCount, &p.Owner, &p.UpdatedAt); err != nil {
			return p, err
		}
		if p.UpdatedAt != nil {
			*p.UpdatedAt = p.UpdatedAt.UTC()
		}
		var err error
		p.Position, err = parsePosition(p.Name, pos)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read projections: %w", translate(err))
	}
	return projections, nil
}

// Checkpoint returns a projection's position: the zero Position before its first batch.
func (s *Store) Checkpoint(ctx context.Context, projection string) (eventstore.Position, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var pos string
	if err := s.db.QueryRow(ctx, checkpointSQL, projection).Scan(&pos); err != nil {
		return eventstore.Position{}, fmt.Errorf("read checkpoint %s: %w", projection, translate(err))
	}
	return parsePosition(projection, pos)
}

// Checkpoints returns the position of every projection with a checkpoint.
func (s *Store) Checkpoints(ctx context.Context) (map[string]eventstore.Position, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, "SELECT name, position FROM projection_checkpoints ORDER BY name LIMIT 1000")
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", translate(err))
	}
	out := make(map[string]eventstore.Position)
	var name, pos string
	_, err = pgx.ForEachRow(rows, []any{&name, &pos}, func() error {
		p, err := parsePosition(name, pos)
		out[name] = p
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", translate(err))
	}
	return out, nil
}

// snapshot runs read in a read-only REPEATABLE READ transaction, after reading the projection's
// checkpoint in it: the position returned is exactly the one the data reflects. (In READ COMMITTED
// each statement has its own snapshot, and the projector may commit in between.)
func (s *Store) snapshot(ctx context.Context, projection string, read func(context.Context, pgx.Tx) error) (eventstore.Position, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var pos eventstore.Position
	err := pgx.BeginTxFunc(ctx, s.db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var raw string
		if err := tx.QueryRow(ctx, checkpointSQL, projection).Scan(&raw); err != nil {
			return err
		}
		var err error
		if pos, err = parsePosition(projection, raw); err != nil {
			return err
		}
		return read(ctx, tx)
	})
	return pos, translate(err)
}

func parsePosition(projection, s string) (eventstore.Position, error) {
	p, err := eventstore.ParsePosition(s)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("checkpoint of projection %s: %w", projection, err)
	}
	return p, nil
}

// orderColumns are the columns of rm_orders that orderRow.dest scans, in its order.
const orderColumns = `o.order_id, o.customer_id, o.status, o.currency, o.total_cents, o.item_count, o.line_count,
	o.ship_name, o.ship_line1, o.ship_line2, o.ship_city, o.ship_postal_code, o.ship_country,
	o.payment_reference, o.paid_cents, o.carrier, o.tracking_number, o.cancel_reason, o.version, o.position,
	o.created_at, o.updated_at, o.placed_at, o.paid_at, o.shipped_at, o.delivered_at, o.cancelled_at`

// orderRow receives one rm_orders row. Every field is a pointer, NOT NULL columns too, because
// Order's LEFT JOIN yields NULLs for an order that is not there.
type orderRow struct {
	orderID                                                           *[16]byte // not *uuid.UUID: pgx scans that as text, through its sql.Scanner
	customerID, status, currency                                      *string
	totalCents, itemCount, lineCount                                  *int64
	shipName, shipLine1, shipLine2, shipCity, shipPostal, shipCountry *string
	paymentReference                                                  *string
	paidCents                                                         *int64
	carrier, trackingNumber, cancelReason                             *string
	version                                                           *int64
	position                                                          *string
	createdAt, updatedAt                                              *time.Time
	placedAt, paidAt, shippedAt, deliveredAt, cancelledAt             *time.Time
}

func (r *orderRow) dest() []any {
	return []any{&r.orderID, &r.customerID, &r.status, &r.currency, &r.totalCents, &r.itemCount, &r.lineCount,
		&r.shipName, &r.shipLine1, &r.shipLine2, &r.shipCity, &r.shipPostal, &r.shipCountry,
		&r.paymentReference, &r.paidCents, &r.carrier, &r.trackingNumber, &r.cancelReason, &r.version, &r.position,
		&r.createdAt, &r.updatedAt, &r.placedAt, &r.paidAt, &r.shippedAt, &r.deliveredAt, &r.cancelledAt}
}

// summary turns a scanned row into an OrderSummary. Rows are scanned into the same orderRow one
// after another, so nothing of r may be kept: pointers are dereferenced or copied.
func (r *orderRow) summary() (OrderSummary, error) {
	if r.orderID == nil || r.customerID == nil || r.status == nil || r.currency == nil || r.totalCents == nil ||
		r.itemCount == nil || r.lineCount == nil || r.version == nil || r.position == nil ||
		r.createdAt == nil || r.updatedAt == nil {
		return OrderSummary{}, errors.New("rm_orders row has NULL in a required column")
	}
	pos, err := eventstore.ParsePosition(*r.position)
	if err != nil {
		return OrderSummary{}, fmt.Errorf("order %s: %w", uuid.UUID(*r.orderID), err)
	}
	o := OrderSummary{
		OrderID:          uuid.UUID(*r.orderID),
		CustomerID:       *r.customerID,
		Status:           *r.status,
		Currency:         *r.currency,
		TotalCents:       *r.totalCents,
		ItemCount:        *r.itemCount,
		LineCount:        *r.lineCount,
		PaymentReference: clone(r.paymentReference),
		PaidCents:        clone(r.paidCents),
		Carrier:          clone(r.carrier),
		TrackingNumber:   clone(r.trackingNumber),
		CancelReason:     clone(r.cancelReason),
		Version:          uint64(*r.version),
		CreatedAt:        r.createdAt.UTC(),
		UpdatedAt:        r.updatedAt.UTC(),
		PlacedAt:         utc(r.placedAt),
		PaidAt:           utc(r.paidAt),
		ShippedAt:        utc(r.shippedAt),
		DeliveredAt:      utc(r.deliveredAt),
		CancelledAt:      utc(r.cancelledAt),
		Position:         pos,
	}
	if r.shipName != nil {
		o.ShippingAddress = &Address{
			Name: *r.shipName, Line1: deref(r.shipLine1), Line2: clone(r.shipLine2),
			City: deref(r.shipCity), PostalCode: deref(r.shipPostal), Country: deref(r.shipCountry),
		}
	}
	return o, nil
}

func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
