package readmodel

import (
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
)

// Projection names, as the projector records them in projection_checkpoints and in its
// notifications. They are durable identifiers shared with the projector: renaming one is a
// migration, not a refactor.
const (
	ProjectionOrders          = "orders" // rm_orders and rm_order_items
	ProjectionCustomerSummary = "customer_summary"
	ProjectionDailySales      = "daily_sales"
	ProjectionAuditLog        = "audit_log" // rm_audit_log
)

// Bounds of the reads, enforced here as well as by the API so that no caller reads past them.
const (
	MaxOrdersPerPage = 500
	MaxSalesDays     = 366
	MaxAuditPerPage  = 500
)

// The views are shaped as the query API serves them, field for field: a second set of structs that
// only copied these would add code and no decoupling.

// OrderSummary is one order of a list: the order without its items.
type OrderSummary struct {
	OrderID          uuid.UUID  `json:"order_id"`
	CustomerID       string     `json:"customer_id"`
	Status           string     `json:"status"`
	Currency         string     `json:"currency"`
	TotalCents       int64      `json:"total_cents"`
	ItemCount        int64      `json:"item_count"`
	LineCount        int64      `json:"line_count"`
	ShippingAddress  *Address   `json:"shipping_address"`
	PaymentReference *string    `json:"payment_reference"`
	PaidCents        *int64     `json:"paid_cents"`
	Carrier          *string    `json:"carrier"`
	TrackingNumber   *string    `json:"tracking_number"`
	CancelReason     *string    `json:"cancel_reason"`
	Version          uint64     `json:"version"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	PlacedAt         *time.Time `json:"placed_at"`
	PaidAt           *time.Time `json:"paid_at"`
	ShippedAt        *time.Time `json:"shipped_at"`
	DeliveredAt      *time.Time `json:"delivered_at"`
	CancelledAt      *time.Time `json:"cancelled_at"`
	// Position is where in the log the order last changed.
	Position eventstore.Position `json:"position"`
}

// Key returns the order's place in list order, to resume a list after it.
func (o OrderSummary) Key() OrderKey { return OrderKey{CreatedAt: o.CreatedAt, OrderID: o.OrderID} }

// Address is an order's shipping address.
type Address struct {
	Name       string  `json:"name"`
	Line1      string  `json:"line1"`
	Line2      *string `json:"line2"`
	City       string  `json:"city"`
	PostalCode string  `json:"postal_code"`
	Country    string  `json:"country"`
}

// Order is the whole order view.
type Order struct {
	OrderSummary
	Items []Item `json:"items"`
}

// Item is one line of an order.
type Item struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	LineTotalCents int64  `json:"line_total_cents"`
}

// OrderKey is an order's place in lists, which go newest first by (created_at, order_id).
type OrderKey struct {
	CreatedAt time.Time
	OrderID   uuid.UUID
}

// OrderFilter selects a page of orders. Empty strings do not filter.
type OrderFilter struct {
	CustomerID string
	Status     string
	After      *OrderKey // the last order of the previous page; nil for the first page
	Limit      int       // 1 to MaxOrdersPerPage
}

// OrderPage is one page of a list.
type OrderPage struct {
	Orders []OrderSummary
	// More reports whether orders follow the last one of this page.
	More bool
}

// CustomerSummary is what a customer has ordered.
type CustomerSummary struct {
	CustomerID     string         `json:"customer_id"`
	OrdersTotal    int64          `json:"orders_total"`
	OrdersByStatus StatusCounts   `json:"orders_by_status"`
	LifetimePaid   []CurrencyPaid `json:"lifetime_paid"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

// StatusCounts counts orders by their current status.
type StatusCounts struct {
	Draft     int64 `json:"draft"`
	Placed    int64 `json:"placed"`
	Paid      int64 `json:"paid"`
	Shipped   int64 `json:"shipped"`
	Delivered int64 `json:"delivered"`
	Cancelled int64 `json:"cancelled"`
}

// CurrencyPaid is what a customer has paid in one currency.
type CurrencyPaid struct {
	Currency  string `json:"currency"`
	PaidCents int64  `json:"paid_cents"`
}

// SalesFilter selects days of sales: From to To, both included, at most MaxSalesDays days.
type SalesFilter struct {
	From, To time.Time // dates: midnight UTC
	Currency string    // empty for all currencies
}

// DailySales is one day's sales in one currency.
type DailySales struct {
	Day              string `json:"day"` // YYYY-MM-DD
	Currency         string `json:"currency"`
	OrdersPlaced     int64  `json:"orders_placed"`
	OrdersPaid       int64  `json:"orders_paid"`
	OrdersCancelled  int64  `json:"orders_cancelled"`
	PaidRevenueCents int64  `json:"paid_revenue_cents"`
}

// DateLayout is how days are written.
const DateLayout = time.DateOnly

// Projection is the progress and health of one projection.
type Projection struct {
	Name          string              `json:"name"`
	SchemaVersion *int64              `json:"schema_version"`
	State         string              `json:"state"`
	Position      eventstore.Position `json:"position"`
	HeadPosition  *string             `json:"head_position"`
	LagEvents     *int64              `json:"lag_events"`
	LagSeconds    *float64            `json:"lag_seconds"`
	LastError     *string             `json:"last_error"`
	ErrorPosition *string             `json:"error_position"`
	ErrorCount    int64               `json:"error_count"`
	Owner         *string             `json:"owner"`
	UpdatedAt     *time.Time          `json:"updated_at"`
}
