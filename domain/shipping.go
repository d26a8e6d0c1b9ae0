package domain

import (
	"fmt"
	"time"
)

// SetShippingAddress sets or replaces the shipping address. It returns
// [ErrNotDraft] once the order is placed, and the errors of [NewAddress] for
// an address that was not built by it.
func (o *Order) SetShippingAddress(a Address, now time.Time) ([]Event, error) {
	if err := o.mustExist(); err != nil {
		return nil, err
	}
	if err := a.revalidate(); err != nil {
		return nil, err
	}
	if o.status != StatusDraft {
		return nil, fmt.Errorf("set the address of a %s order: %w", o.status, ErrNotDraft)
	}
	return []Event{ShippingAddressSet{
		Name:       a.name,
		Line1:      a.line1,
		Line2:      a.line2,
		City:       a.city,
		PostalCode: a.postalCode,
		Country:    string(a.country),
		At:         eventTime(now),
	}}, nil
}
