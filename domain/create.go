package domain

import (
	"time"

	"github.com/google/uuid"
)

// Create starts a draft order. It returns [ErrOrderExists] if o already
// exists, and [ErrInvalidOrderID], [ErrInvalidCustomerID] or
// [ErrInvalidCurrency] for bad input. A nil o is fine: the order does not
// exist.
func (o *Order) Create(id uuid.UUID, customer CustomerID, currency Currency, now time.Time) ([]Event, error) {
	if o.Exists() {
		return nil, ErrOrderExists
	}
	if id == uuid.Nil {
		return nil, ErrInvalidOrderID
	}
	if _, err := NewCustomerID(string(customer)); err != nil {
		return nil, err
	}
	if _, err := ParseCurrency(string(currency)); err != nil {
		return nil, err
	}
	return []Event{OrderCreated{
		OrderID:    id,
		CustomerID: string(customer),
		Currency:   string(currency),
		At:         eventTime(now),
	}}, nil
}
