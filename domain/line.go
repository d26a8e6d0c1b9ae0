package domain

import (
	"fmt"
	"unicode"
)

// Limits on an order's lines. See [MaxUnitPrice] for why they matter for
// totals.
const (
	MaxLines    = 200
	MaxQuantity = 10_000
)

// SKU identifies a product; an order has at most one line per SKU.
type SKU string

// NewSKU accepts 1 to 64 printable characters with no space at either end,
// or returns [ErrInvalidSKU].
func NewSKU(s string) (SKU, error) {
	if err := checkText(ErrInvalidSKU, s, 1, 64); err != nil {
		return "", err
	}
	for _, r := range s {
		// Stricter than other text: an invisible or odd space inside a SKU
		// would make two SKUs that look alike but never match.
		if !unicode.IsPrint(r) {
			return "", fmt.Errorf("%w: must contain only printable characters", ErrInvalidSKU)
		}
	}
	return SKU(s), nil
}

// ItemName is the name of an item as the customer saw it when adding it.
type ItemName string

// NewItemName accepts 1 to 200 characters, or returns [ErrInvalidItemName].
func NewItemName(s string) (ItemName, error) {
	if err := checkText(ErrInvalidItemName, s, 1, 200); err != nil {
		return "", err
	}
	return ItemName(s), nil
}

// Quantity is how many units of an item are added or ordered.
type Quantity int64

// NewQuantity accepts 1 to [MaxQuantity], or returns [ErrQuantityOutOfRange].
func NewQuantity(n int64) (Quantity, error) {
	if n < 1 || n > MaxQuantity {
		return 0, fmt.Errorf("%w: got %d", ErrQuantityOutOfRange, n)
	}
	return Quantity(n), nil
}

// Line is one SKU in an order, with its merged quantity. UnitPrice is in the
// order's currency.
type Line struct {
	SKU       SKU
	Name      ItemName
	Quantity  Quantity
	UnitPrice Amount
}

// Total is the quantity times the unit price.
func (l Line) Total() Amount { return Amount(int64(l.Quantity) * int64(l.UnitPrice)) }
