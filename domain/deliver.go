package domain

import (
	"fmt"
	"time"
)

// Deliver records delivery. Only a shipped order is delivered
// ([ErrNotShipped]), and only once.
func (o *Order) Deliver(now time.Time) ([]Event, error) {
	if err := o.mustExist(); err != nil {
		return nil, err
	}
	if o.status != StatusShipped {
		return nil, fmt.Errorf("deliver a %s order: %w", o.status, ErrNotShipped)
	}
	return []Event{OrderDelivered{At: eventTime(now)}}, nil
}
