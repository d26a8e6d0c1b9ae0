package domain

import "errors"

// Rule violations. Callers branch on them with errors.Is; the returned errors
// usually wrap them with the values involved.
var (
	ErrOrderNotFound        = errors.New("order not found")
	ErrOrderExists          = errors.New("order already exists")
	ErrNotDraft             = errors.New("only a draft order can change its items or address, or be placed")
	ErrTooManyLines         = errors.New("an order has at most 200 lines")
	ErrLineQuantityExceeded = errors.New("a line's quantity must stay at most 10000")
	ErrLineMismatch         = errors.New("an item already in the order must be added with the same name and unit price")
	ErrItemNotFound         = errors.New("item not in the order")
	ErrNoItems              = errors.New("placing an order needs at least one item")
	ErrNoShippingAddress    = errors.New("placing an order needs a shipping address")
	ErrNotPlaced            = errors.New("only a placed order can be paid")
	ErrAmountMismatch       = errors.New("payment must equal the order total exactly")
	ErrNotPaid              = errors.New("only a paid order can be shipped")
	ErrNotShipped           = errors.New("only a shipped order can be delivered")
	ErrCannotCancel         = errors.New("only a draft, placed or paid order can be cancelled")
	ErrUnknownCommand       = errors.New("unknown command")
)

// Invalid input. Constructors of value objects return these, wrapped with the
// reason; the decisions check their inputs again and return them too.
var (
	ErrInvalidOrderID          = errors.New("invalid order id: must not be the nil uuid")
	ErrInvalidCustomerID       = errors.New("invalid customer id")
	ErrInvalidCurrency         = errors.New("invalid currency: must be an active ISO 4217 code")
	ErrInvalidSKU              = errors.New("invalid sku")
	ErrInvalidItemName         = errors.New("invalid item name")
	ErrQuantityOutOfRange      = errors.New("quantity must be between 1 and 10000")
	ErrUnitPriceOutOfRange     = errors.New("unit price must be between 0 and 10000000000 minor units")
	ErrInvalidAmount           = errors.New("invalid amount: must not be negative")
	ErrInvalidCountry          = errors.New("invalid country: must be an officially assigned ISO 3166-1 alpha-2 code")
	ErrInvalidAddress          = errors.New("invalid address")
	ErrInvalidPaymentReference = errors.New("invalid payment reference")
	ErrInvalidCarrier          = errors.New("invalid carrier")
	ErrInvalidTrackingNumber   = errors.New("invalid tracking number")
	ErrInvalidCancelReason     = errors.New("invalid cancel reason")
)

// Codec errors.
var (
	ErrUnknownEventType     = errors.New("unknown event type")
	ErrUnknownSchemaVersion = errors.New("unknown schema version")
)

// FieldError says which field of an address is invalid. [NewAddress] returns
// one per bad field, joined with errors.Join, so a form can mark every field
// at once. Err wraps [ErrInvalidAddress] (and [ErrInvalidCountry] for the
// country).
type FieldError struct {
	Field string // "name", "line1", "line2", "city", "postal_code" or "country"
	Err   error
}

func (e *FieldError) Error() string {
	if e.Err == nil {
		return e.Field + ": invalid"
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }
