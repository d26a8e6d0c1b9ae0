package domain

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Fixed times: history happened at t0, commands are decided at now. now has
// nanoseconds so a lossy encoding of At would show.
var (
	t0      = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	now     = time.Date(2026, 3, 2, 10, 30, 15, 123456789, time.UTC)
	orderID = uuid.MustParse("0b6f8c1e-4a3d-4c8e-9f0a-1d2e3f405162")
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// History fixtures. Each history() call returns a fresh slice.
var (
	created    = OrderCreated{OrderID: orderID, CustomerID: "cust-42", Currency: "EUR", At: t0}
	addedA     = ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 2, UnitPriceCents: 1250, At: t0}
	addedB     = ItemAdded{SKU: "B-2", Name: "Tea", Quantity: 1, UnitPriceCents: 500, At: t0}
	addressSet = ShippingAddressSet{Name: "Ada Lovelace", Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4JH", Country: "GB", At: t0}
	placed     = OrderPlaced{TotalCents: 3000, Currency: "EUR", ItemCount: 3, At: t0}
	paid       = OrderPaid{AmountCents: 3000, Currency: "EUR", PaymentReference: "pay_123", At: t0}
	shipped    = OrderShipped{Carrier: "DHL", TrackingNumber: "JD0123456789", At: t0}
	delivered  = OrderDelivered{At: t0}
)

func history(events ...Event) []Event { return slices.Clone(events) }

func draftHistory() []Event     { return history(created, addedA, addedB, addressSet) }
func placedHistory() []Event    { return append(draftHistory(), placed) }
func paidHistory() []Event      { return append(placedHistory(), paid) }
func shippedHistory() []Event   { return append(paidHistory(), shipped) }
func deliveredHistory() []Event { return append(shippedHistory(), delivered) }
func cancelledHistory() []Event {
	return append(draftHistory(), OrderCancelled{Reason: "changed my mind", PreviousStatus: "draft", At: t0})
}

// withLines returns a created order with n lines "SKU-0000".. of quantity
// qty at price.
func withLines(n int, qty, price int64) []Event {
	events := history(created)
	for i := range n {
		events = append(events, ItemAdded{SKU: fmt.Sprintf("SKU-%04d", i), Name: "Bulk", Quantity: qty, UnitPriceCents: price, At: t0})
	}
	return events
}

func testAddress(tb testing.TB) Address {
	tb.Helper()
	a, err := NewAddress("Grace Hopper", "1 Navy Way", "Suite 2", "Arlington", "22202", "US")
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// decideCase is one given-events / when-command / then-events-or-error row.
type decideCase struct {
	name    string
	given   []Event
	when    Command
	then    []Event
	wantErr error
}

func runDecide(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := Rebuild(tc.given)
			got, err := Decide(o, tc.when, now)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				if got != nil {
					t.Fatalf("events = %#v alongside an error, want none", got)
				}
			} else {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !reflect.DeepEqual(got, tc.then) {
					t.Fatalf("events:\n got %#v\nwant %#v", got, tc.then)
				}
			}
			if !reflect.DeepEqual(o, Rebuild(tc.given)) {
				t.Fatal("Decide changed the order it decided on")
			}
		})
	}
}

func mustLoadLocation(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Skipf("time zone data unavailable: %v", err)
	}
	return loc
}
