package domain

import (
	"time"

	"github.com/google/uuid"
)

// Event type names. They are stored with every event and are durable:
// renaming one is a data migration, not a refactor.
const (
	EventOrderCreated       = "OrderCreated"
	EventItemAdded          = "ItemAdded"
	EventItemRemoved        = "ItemRemoved"
	EventShippingAddressSet = "ShippingAddressSet"
	EventOrderPlaced        = "OrderPlaced"
	EventOrderPaid          = "OrderPaid"
	EventOrderShipped       = "OrderShipped"
	EventOrderDelivered     = "OrderDelivered"
	EventOrderCancelled     = "OrderCancelled"
)

// Event is something that happened to an order. Events hold plain strings
// and integers rather than value objects: they record what was accepted then
// and must decode even if today's rules would refuse it. Their JSON field
// names are as durable as their type names; changing a payload's shape means
// a new schema version and an upcast in [UnmarshalEvent].
type Event interface {
	EventType() string
}

// OrderCreated starts an order's stream (schema v1).
type OrderCreated struct {
	OrderID    uuid.UUID `json:"order_id"`
	CustomerID string    `json:"customer_id"`
	Currency   string    `json:"currency"`
	At         time.Time `json:"at"`
}

// ItemAdded records Quantity more units of a SKU (schema v2). When the SKU
// is already in the order the quantity adds to its line; the event states
// what the customer did, and the merged line is derived from it.
type ItemAdded struct {
	SKU            string    `json:"sku"`
	Name           string    `json:"name"`
	Quantity       int64     `json:"quantity"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	At             time.Time `json:"at"`
}

// ItemRemoved removes a SKU's whole line (schema v1).
type ItemRemoved struct {
	SKU string    `json:"sku"`
	At  time.Time `json:"at"`
}

// ShippingAddressSet replaces the shipping address (schema v1).
type ShippingAddressSet struct {
	Name       string    `json:"name"`
	Line1      string    `json:"line1"`
	Line2      string    `json:"line2"`
	City       string    `json:"city"`
	PostalCode string    `json:"postal_code"`
	Country    string    `json:"country"`
	At         time.Time `json:"at"`
}

// OrderPlaced freezes the order's contents (schema v1). It carries the total
// and item count so readers need not replay the lines.
type OrderPlaced struct {
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency"`
	ItemCount  int64     `json:"item_count"`
	At         time.Time `json:"at"`
}

// OrderPaid records full payment of the total (schema v1).
type OrderPaid struct {
	AmountCents      int64     `json:"amount_cents"`
	Currency         string    `json:"currency"`
	PaymentReference string    `json:"payment_reference"`
	At               time.Time `json:"at"`
}

// OrderShipped records the hand-over to a carrier (schema v1).
type OrderShipped struct {
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"tracking_number"`
	At             time.Time `json:"at"`
}

// OrderDelivered ends the order's lifecycle (schema v1).
type OrderDelivered struct {
	At time.Time `json:"at"`
}

// OrderCancelled ends the order before shipping (schema v1). PreviousStatus
// tells readers whether money has to be refunded.
type OrderCancelled struct {
	Reason         string    `json:"reason"`
	PreviousStatus string    `json:"previous_status"`
	At             time.Time `json:"at"`
}

func (OrderCreated) EventType() string       { return EventOrderCreated }
func (ItemAdded) EventType() string          { return EventItemAdded }
func (ItemRemoved) EventType() string        { return EventItemRemoved }
func (ShippingAddressSet) EventType() string { return EventShippingAddressSet }
func (OrderPlaced) EventType() string        { return EventOrderPlaced }
func (OrderPaid) EventType() string          { return EventOrderPaid }
func (OrderShipped) EventType() string       { return EventOrderShipped }
func (OrderDelivered) EventType() string     { return EventOrderDelivered }
func (OrderCancelled) EventType() string     { return EventOrderCancelled }
