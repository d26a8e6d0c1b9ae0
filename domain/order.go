package domain

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// Status is where an order is in its lifecycle:
//
//	draft -> placed -> paid -> shipped -> delivered
//
// and cancelled from draft, placed or paid. An order that does not exist has
// the empty Status.
type Status string

const (
	StatusDraft     Status = "draft"
	StatusPlaced    Status = "placed"
	StatusPaid      Status = "paid"
	StatusShipped   Status = "shipped"
	StatusDelivered Status = "delivered"
	StatusCancelled Status = "cancelled"
)

// Order is the order aggregate, rebuilt from its events. The zero Order is
// an order that does not exist yet. An Order is not safe for concurrent use;
// the command side loads a fresh one per command.
type Order struct {
	id         uuid.UUID
	customerID CustomerID
	currency   Currency
	status     Status
	lines      []Line // in the order SKUs were first added
	address    Address
	hasAddress bool
	paymentRef string
	carrier    string
	tracking   string
	cancelNote string
	createdAt  time.Time
	updatedAt  time.Time
	version    uint64
}

// Rebuild replays events onto a zero Order.
func Rebuild(events []Event) *Order {
	o := &Order{}
	for _, e := range events {
		o.Apply(e)
	}
	return o
}

// Exists reports whether the order has been created. A nil *Order does not
// exist.
func (o *Order) Exists() bool { return o != nil && o.status != "" }

// Version is the number of events applied, which is the stream version to
// expect when appending the next ones.
func (o *Order) Version() uint64 { return o.version }

func (o *Order) ID() uuid.UUID          { return o.id }
func (o *Order) CustomerID() CustomerID { return o.customerID }
func (o *Order) Currency() Currency     { return o.currency }
func (o *Order) Status() Status         { return o.status }

// Lines returns a copy of the order's lines, in the order their SKUs were
// first added.
func (o *Order) Lines() []Line { return slices.Clone(o.lines) }

// Total is the sum of the line totals in the order's currency.
func (o *Order) Total() Money {
	var sum Amount
	for _, l := range o.lines {
		sum += l.Total()
	}
	return NewMoney(sum, o.currency)
}

// ItemCount is the sum of the lines' quantities.
func (o *Order) ItemCount() int64 {
	var n int64
	for _, l := range o.lines {
		n += int64(l.Quantity)
	}
	return n
}

// ShippingAddress returns the address and true once one has been set.
func (o *Order) ShippingAddress() (Address, bool) { return o.address, o.hasAddress }

func (o *Order) PaymentReference() string { return o.paymentRef }
func (o *Order) Carrier() string          { return o.carrier }
func (o *Order) TrackingNumber() string   { return o.tracking }
func (o *Order) CancelReason() string     { return o.cancelNote }

// CreatedAt is the time of the OrderCreated event.
func (o *Order) CreatedAt() time.Time { return o.createdAt }

// UpdatedAt is the time of the last event applied.
func (o *Order) UpdatedAt() time.Time { return o.updatedAt }

// line returns the index of the line for sku, or -1.
func (o *Order) line(sku SKU) int {
	return slices.IndexFunc(o.lines, func(l Line) bool { return l.SKU == sku })
}

// eventTime is the At recorded for events decided at now. Events are stored
// as JSON, which keeps neither a monotonic clock reading nor a *time.Location,
// so they are dropped up front: an event then decodes to exactly the value
// that was decided.
func eventTime(now time.Time) time.Time { return now.UTC().Round(0) }
