package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Command is a request to change an order. Commands hold value objects that
// the caller has already built with their constructors; the decisions check
// them again, because a caller can also write SKU("") or Quantity(1<<40).
type Command interface {
	CommandName() string
}

// CreateOrder starts a new order in a currency.
type CreateOrder struct {
	OrderID    uuid.UUID
	CustomerID CustomerID
	Currency   Currency
}

// AddItem adds Quantity units of a SKU. UnitPrice is in the order's
// currency.
type AddItem struct {
	SKU       SKU
	Name      ItemName
	Quantity  Quantity
	UnitPrice Amount
}

// RemoveItem removes a SKU's whole line.
type RemoveItem struct {
	SKU SKU
}

// SetShippingAddress sets or replaces the shipping address.
type SetShippingAddress struct {
	Address Address
}

// PlaceOrder submits a draft.
type PlaceOrder struct{}

// PayOrder records a payment of Amount in the order's currency.
// PaymentReference comes from [NewPaymentReference].
type PayOrder struct {
	Amount           Amount
	PaymentReference string
}

// ShipOrder records the hand-over to a carrier. Carrier and TrackingNumber
// come from [NewCarrier] and [NewTrackingNumber].
type ShipOrder struct {
	Carrier        string
	TrackingNumber string
}

// DeliverOrder records delivery.
type DeliverOrder struct{}

// CancelOrder cancels an order that has not shipped. Reason comes from
// [NewCancelReason].
type CancelOrder struct {
	Reason string
}

func (CreateOrder) CommandName() string        { return "CreateOrder" }
func (AddItem) CommandName() string            { return "AddItem" }
func (RemoveItem) CommandName() string         { return "RemoveItem" }
func (SetShippingAddress) CommandName() string { return "SetShippingAddress" }
func (PlaceOrder) CommandName() string         { return "PlaceOrder" }
func (PayOrder) CommandName() string           { return "PayOrder" }
func (ShipOrder) CommandName() string          { return "ShipOrder" }
func (DeliverOrder) CommandName() string       { return "DeliverOrder" }
func (CancelOrder) CommandName() string        { return "CancelOrder" }

// Decide runs one command against the order's current state and returns the
// new events, or an error and no events. It does not change o; apply the
// events once they are stored. A nil o is an order that does not exist.
//
// Any command but CreateOrder on an order that does not exist returns
// [ErrOrderNotFound]; CreateOrder on one that does returns [ErrOrderExists].
// The other errors are listed on the method each command dispatches to.
// Commands are values (PayOrder, not *PayOrder); anything else returns
// [ErrUnknownCommand].
func Decide(o *Order, cmd Command, now time.Time) ([]Event, error) {
	switch c := cmd.(type) {
	case CreateOrder:
		return o.Create(c.OrderID, c.CustomerID, c.Currency, now)
	case AddItem:
		return o.AddItem(c.SKU, c.Name, c.Quantity, c.UnitPrice, now)
	case RemoveItem:
		return o.RemoveItem(c.SKU, now)
	case SetShippingAddress:
		return o.SetShippingAddress(c.Address, now)
	case PlaceOrder:
		return o.Place(now)
	case PayOrder:
		return o.Pay(c.Amount, c.PaymentReference, now)
	case ShipOrder:
		return o.Ship(c.Carrier, c.TrackingNumber, now)
	case DeliverOrder:
		return o.Deliver(now)
	case CancelOrder:
		return o.Cancel(c.Reason, now)
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
	}
}

// mustExist returns ErrOrderNotFound for an order that has not been created.
func (o *Order) mustExist() error {
	if !o.Exists() {
		return ErrOrderNotFound
	}
	return nil
}
