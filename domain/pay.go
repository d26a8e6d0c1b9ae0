package domain

import (
	"fmt"
	"time"
)

// NewPaymentReference accepts the payment provider's reference, 1 to 100
// characters, or returns [ErrInvalidPaymentReference].
func NewPaymentReference(s string) (string, error) {
	if err := checkText(ErrInvalidPaymentReference, s, 1, 100); err != nil {
		return "", err
	}
	return s, nil
}

// Pay records a payment of amount in the order's currency. Only a placed
// order can be paid ([ErrNotPlaced]), and only with exactly its total
// ([ErrAmountMismatch]): partial payments and overpayments are for the
// payment service to sort out before it reports one. Bad input returns
// [ErrInvalidAmount] or [ErrInvalidPaymentReference].
func (o *Order) Pay(amount Amount, ref string, now time.Time) ([]Event, error) {
	if err := o.mustExist(); err != nil {
		return nil, err
	}
	if _, err := NewPaymentAmount(int64(amount)); err != nil {
		return nil, err
	}
	if _, err := NewPaymentReference(ref); err != nil {
		return nil, err
	}
	if o.status != StatusPlaced {
		return nil, fmt.Errorf("pay a %s order: %w", o.status, ErrNotPlaced)
	}
	total := o.Total()
	if amount != total.Amount() {
		return nil, fmt.Errorf("paid %d %s for a total of %d: %w", amount, total.Currency(), total.Amount(), ErrAmountMismatch)
	}
	return []Event{OrderPaid{
		AmountCents:      int64(amount),
		Currency:         string(total.Currency()),
		PaymentReference: ref,
		At:               eventTime(now),
	}}, nil
}
