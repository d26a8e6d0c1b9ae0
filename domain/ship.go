package domain

import (
	"fmt"
	"time"
)

// NewCarrier accepts a carrier name, 1 to 100 characters, or returns
// [ErrInvalidCarrier].
func NewCarrier(s string) (string, error) {
	if err := checkText(ErrInvalidCarrier, s, 1, 100); err != nil {
		return "", err
	}
	return s, nil
}

// NewTrackingNumber accepts a tracking number, 1 to 100 characters, or
// returns [ErrInvalidTrackingNumber].
func NewTrackingNumber(s string) (string, error) {
	if err := checkText(ErrInvalidTrackingNumber, s, 1, 100); err != nil {
		return "", err
	}
	return s, nil
}

// Ship records the hand-over to a carrier. Only a paid order ships
// ([ErrNotPaid]). Bad input returns [ErrInvalidCarrier] or
// [ErrInvalidTrackingNumber].
func (o *Order) Ship(carrier, trackingNumber string, now time.Time) ([]Event, error) {
	if err := o.mustExist(); err != nil {
		return nil, err
	}
	if _, err := NewCarrier(carrier); err != nil {
		return nil, err
	}
	if _, err := NewTrackingNumber(trackingNumber); err != nil {
		return nil, err
	}
	if o.status != StatusPaid {
		return nil, fmt.Errorf("ship a %s order: %w", o.status, ErrNotPaid)
	}
	return []Event{OrderShipped{Carrier: carrier, TrackingNumber: trackingNumber, At: eventTime(now)}}, nil
}
