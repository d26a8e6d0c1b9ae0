package domain

import (
	"fmt"
	"time"
)

// Place submits a draft. It returns [ErrNotDraft] for an order that is not a
// draft, [ErrNoItems] for an empty one and [ErrNoShippingAddress] if no
// address has been set.
func (o *Order) Place(now time.Time) ([]Event, error) {
	if err := o.mustExist(); err != nil {
		return nil, err
	}
	if o.status != StatusDraft {
		return nil, fmt.Errorf("place a %s order: %w", o.status, ErrNotDraft)
	}
	if len(o.lines) == 0 {
		return nil, ErrNoItems
	}
	if !o.hasAddress {
		return nil, ErrNoShippingAddress
	}
	total := o.Total()
	return []Event{OrderPlaced{
		TotalCents: int64(total.Amount()),
		Currency:   string(total.Currency()),
		ItemCount:  o.ItemCount(),
		At:         eventTime(now),
	}}, nil
}
