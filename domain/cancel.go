package domain

import (
	"fmt"
	"time"
)

// NewCancelReason accepts why an order is cancelled, 1 to 500 characters on
// one line, or returns [ErrInvalidCancelReason].
func NewCancelReason(s string) (string, error) {
	if err := checkText(ErrInvalidCancelReason, s, 1, 500); err != nil {
		return "", err
	}
	return s, nil
}

// Cancel cancels a draft, placed or paid order. Once shipped the goods have
// left, so it is too late, and an order is cancelled only once
// ([ErrCannotCancel]). Bad input returns [ErrInvalidCancelReason].
func (o *Order) Cancel(reason string, now time.Time) ([]Event, error) {
	if err := o.mustExist(); err != nil {
		return nil, err
	}
	if _, err := NewCancelReason(reason); err != nil {
		return nil, err
	}
	switch o.status {
	case StatusDraft, StatusPlaced, StatusPaid:
	default:
		return nil, fmt.Errorf("cancel a %s order: %w", o.status, ErrCannotCancel)
	}
	return []Event{OrderCancelled{Reason: reason, PreviousStatus: string(o.status), At: eventTime(now)}}, nil
}
