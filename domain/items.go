package domain

import (
	"fmt"
	"time"
)

// AddItem adds qty units of sku at unitPrice (in the order's currency). A
// SKU already in the order adds to its line, and must come with the same
// name and unit price ([ErrLineMismatch]); the merged quantity must stay at
// most [MaxQuantity] ([ErrLineQuantityExceeded]). A new SKU needs a free
// line ([ErrTooManyLines]). Items change only in a draft ([ErrNotDraft]).
// Bad input returns [ErrInvalidSKU], [ErrInvalidItemName],
// [ErrQuantityOutOfRange] or [ErrUnitPriceOutOfRange].
func (o *Order) AddItem(sku SKU, name ItemName, qty Quantity, unitPrice Amount, now time.Time) ([]Event, error) {
	if err := o.mustExist(); err != nil {
		return nil, err
	}
	if _, err := NewSKU(string(sku)); err != nil {
		return nil, err
	}
	if _, err := NewItemName(string(name)); err != nil {
		return nil, err
	}
	if _, err := NewQuantity(int64(qty)); err != nil {
		return nil, err
	}
	if _, err := NewUnitPrice(int64(unitPrice)); err != nil {
		return nil, err
	}
	if o.status != StatusDraft {
		return nil, fmt.Errorf("add item to a %s order: %w", o.status, ErrNotDraft)
	}
	if i := o.line(sku); i >= 0 {
		l := o.lines[i]
		if l.Name != name || l.UnitPrice != unitPrice {
			return nil, fmt.Errorf("sku %q is in the order as %q at %d: %w", sku, l.Name, l.UnitPrice, ErrLineMismatch)
		}
		if l.Quantity+qty > MaxQuantity {
			return nil, fmt.Errorf("sku %q: %d + %d: %w", sku, l.Quantity, qty, ErrLineQuantityExceeded)
		}
	} else if len(o.lines) >= MaxLines {
		return nil, fmt.Errorf("add sku %q: %w", sku, ErrTooManyLines)
	}
	return []Event{ItemAdded{
		SKU:            string(sku),
		Name:           string(name),
		Quantity:       int64(qty),
		UnitPriceCents: int64(unitPrice),
		At:             eventTime(now),
	}}, nil
}

// RemoveItem removes the whole line for sku. It returns [ErrItemNotFound]
// if the order has no such line and [ErrNotDraft] once the order is placed.
func (o *Order) RemoveItem(sku SKU, now time.Time) ([]Event, error) {
	if err := o.mustExist(); err != nil {
		return nil, err
	}
	if o.status != StatusDraft {
		return nil, fmt.Errorf("remove item from a %s order: %w", o.status, ErrNotDraft)
	}
	if o.line(sku) < 0 {
		return nil, fmt.Errorf("sku %q: %w", sku, ErrItemNotFound)
	}
	return []Event{ItemRemoved{SKU: string(sku), At: eventTime(now)}}, nil
}
