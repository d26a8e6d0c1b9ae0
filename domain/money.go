package domain

import "fmt"

// Amount is a count of minor units (cents for EUR, yen for JPY) in a currency
// known from context. It is an integer so sums are exact.
type Amount int64

// MaxUnitPrice caps a unit price, in minor units. With at most [MaxLines]
// lines of at most [MaxQuantity] each, an order total stays below
// 200 x 10^4 x 10^10 = 2 x 10^16, far inside int64, so no sum needs an
// overflow check.
const MaxUnitPrice Amount = 10_000_000_000

// NewUnitPrice accepts 0 to [MaxUnitPrice] minor units, or returns
// [ErrUnitPriceOutOfRange]. Zero is allowed for free items.
func NewUnitPrice(minor int64) (Amount, error) {
	if minor < 0 || minor > int64(MaxUnitPrice) {
		return 0, fmt.Errorf("%w: got %d", ErrUnitPriceOutOfRange, minor)
	}
	return Amount(minor), nil
}

// NewPaymentAmount accepts any amount that is not negative, or returns
// [ErrInvalidAmount]. Whether it matches the order is for [Order.Pay] to say.
func NewPaymentAmount(minor int64) (Amount, error) {
	if minor < 0 {
		return 0, fmt.Errorf("%w: got %d", ErrInvalidAmount, minor)
	}
	return Amount(minor), nil
}

// Money is an amount together with its currency. Values are comparable
// with ==.
type Money struct {
	amount   Amount
	currency Currency
}

// NewMoney pairs an amount with its currency. Both are already validated
// types, so there is nothing left to check.
func NewMoney(a Amount, c Currency) Money { return Money{amount: a, currency: c} }

func (m Money) Amount() Amount     { return m.amount }
func (m Money) Currency() Currency { return m.currency }
