package domain

import (
	"reflect"
	"testing"
	"time"
)

func TestRebuildEmpty(t *testing.T) {
	for name, o := range map[string]*Order{"Rebuild(nil)": Rebuild(nil), "zero Order": {}} {
		if o.Exists() || o.Version() != 0 || o.Status() != "" || o.Lines() != nil || o.ItemCount() != 0 {
			t.Errorf("%s: exists=%v version=%d status=%q lines=%v", name, o.Exists(), o.Version(), o.Status(), o.Lines())
		}
		if _, ok := o.ShippingAddress(); ok {
			t.Errorf("%s has a shipping address", name)
		}
	}
	if (*Order)(nil).Exists() {
		t.Error("nil order exists")
	}
}

func TestRebuildAndGetters(t *testing.T) {
	t1, t2, t3 := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	o := Rebuild([]Event{
		created, // t0
		ItemAdded{SKU: "C-3", Name: "Spoon", Quantity: 4, UnitPriceCents: 199, At: t1},
		ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 2, UnitPriceCents: 1250, At: t1},
		ItemAdded{SKU: "B-2", Name: "Tea", Quantity: 1, UnitPriceCents: 500, At: t1},
		ItemAdded{SKU: "C-3", Name: "Spoon", Quantity: 6, UnitPriceCents: 199, At: t1}, // merges
		ItemRemoved{SKU: "A-1", At: t1},
		ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 1, UnitPriceCents: 1300, At: t1}, // back, at the end
		addressSet,
		ShippingAddressSet{Name: "Grace Hopper", Line1: "1 Navy Way", City: "Arlington", PostalCode: "22202", Country: "US", At: t2},
		OrderPlaced{TotalCents: 10*199 + 500 + 1300, Currency: "EUR", ItemCount: 12, At: t2},
		OrderPaid{AmountCents: 3790, Currency: "EUR", PaymentReference: "pay_9", At: t2},
		OrderShipped{Carrier: "DHL", TrackingNumber: "JD9", At: t3},
	})

	wantLines := []Line{
		{SKU: "C-3", Name: "Spoon", Quantity: 10, UnitPrice: 199},
		{SKU: "B-2", Name: "Tea", Quantity: 1, UnitPrice: 500},
		{SKU: "A-1", Name: "Mug", Quantity: 1, UnitPrice: 1300},
	}
	if got := o.Lines(); !reflect.DeepEqual(got, wantLines) {
		t.Errorf("Lines() = %+v, want %+v", got, wantLines)
	}
	if got := wantLines[0].Total(); got != 1990 {
		t.Errorf("Line.Total() = %d, want 1990", got)
	}
	if got, want := o.Total(), NewMoney(3790, "EUR"); got != want {
		t.Errorf("Total() = %+v, want %+v", got, want)
	}
	if got := o.ItemCount(); got != 12 {
		t.Errorf("ItemCount() = %d, want 12", got)
	}
	if o.Version() != 12 || !o.Exists() {
		t.Errorf("Version() = %d, Exists() = %v; want 12, true", o.Version(), o.Exists())
	}
	if o.ID() != orderID || o.CustomerID() != "cust-42" || o.Currency() != "EUR" || o.Status() != StatusShipped {
		t.Errorf("id=%v customer=%q currency=%q status=%q", o.ID(), o.CustomerID(), o.Currency(), o.Status())
	}
	a, ok := o.ShippingAddress()
	if !ok || a != must(NewAddress("Grace Hopper", "1 Navy Way", "", "Arlington", "22202", "US")) {
		t.Errorf("ShippingAddress() = %+v, %v; want the last one set", a, ok)
	}
	if o.PaymentReference() != "pay_9" || o.Carrier() != "DHL" || o.TrackingNumber() != "JD9" || o.CancelReason() != "" {
		t.Errorf("ref=%q carrier=%q tracking=%q reason=%q", o.PaymentReference(), o.Carrier(), o.TrackingNumber(), o.CancelReason())
	}
	if !o.CreatedAt().Equal(t0) || !o.UpdatedAt().Equal(t3) {
		t.Errorf("CreatedAt() = %v, UpdatedAt() = %v; want %v, %v", o.CreatedAt(), o.UpdatedAt(), t0, t3)
	}

	// Lines is a copy.
	o.Lines()[0].Quantity = 9999
	if o.Lines()[0].Quantity != 10 {
		t.Error("changing the result of Lines() changed the order")
	}
}

func TestApplyCancelAndDeliver(t *testing.T) {
	o := Rebuild(append(paidHistory(), OrderCancelled{Reason: "fraud", PreviousStatus: "paid", At: now}))
	if o.Status() != StatusCancelled || o.CancelReason() != "fraud" || !o.UpdatedAt().Equal(now) {
		t.Errorf("status=%q reason=%q updated=%v", o.Status(), o.CancelReason(), o.UpdatedAt())
	}
	if o := Rebuild(deliveredHistory()); o.Status() != StatusDelivered || o.Version() != 8 {
		t.Errorf("delivered: status=%q version=%d", o.Status(), o.Version())
	}
}

// TestApplyDoesNotValidate: history is replayed as recorded, even where
// today's rules would refuse it, and every event counts towards Version.
func TestApplyDoesNotValidate(t *testing.T) {
	o := Rebuild([]Event{
		OrderCreated{OrderID: orderID, CustomerID: "", Currency: "BGN", At: t0}, // withdrawn currency
		ItemAdded{SKU: "A", Name: "", Quantity: 20_000, UnitPriceCents: 1, At: t0},
		ItemRemoved{SKU: "not-there", At: t0},
		foreignEvent{},
	})
	if o.Version() != 4 || o.Currency() != "BGN" || o.ItemCount() != 20_000 || len(o.Lines()) != 1 {
		t.Errorf("version=%d currency=%q items=%d lines=%d", o.Version(), o.Currency(), o.ItemCount(), len(o.Lines()))
	}
}

func TestUpdatedAtFollowsEveryEvent(t *testing.T) {
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	events := []Event{
		OrderCreated{OrderID: orderID, CustomerID: "c", Currency: "EUR", At: at(0)},
		ItemAdded{SKU: "A", Name: "a", Quantity: 1, UnitPriceCents: 1, At: at(1)},
		ItemAdded{SKU: "A", Name: "a", Quantity: 1, UnitPriceCents: 1, At: at(2)},
		ItemRemoved{SKU: "A", At: at(3)},
		ItemAdded{SKU: "B", Name: "b", Quantity: 1, UnitPriceCents: 1, At: at(4)},
		ShippingAddressSet{Name: "n", Line1: "l", City: "c", PostalCode: "p", Country: "DE", At: at(5)},
		OrderPlaced{TotalCents: 1, Currency: "EUR", ItemCount: 1, At: at(6)},
		OrderPaid{AmountCents: 1, Currency: "EUR", PaymentReference: "r", At: at(7)},
		OrderShipped{Carrier: "c", TrackingNumber: "t", At: at(8)},
		OrderDelivered{At: at(9)},
	}
	for i := range events {
		o := Rebuild(events[:i+1])
		if !o.UpdatedAt().Equal(at(i)) || !o.CreatedAt().Equal(at(0)) {
			t.Errorf("after %s: CreatedAt %v, UpdatedAt %v; want %v, %v", events[i].EventType(), o.CreatedAt(), o.UpdatedAt(), at(0), at(i))
		}
	}
	o := Rebuild(append(events[:8:8], OrderCancelled{Reason: "r", PreviousStatus: "paid", At: at(10)}))
	if !o.UpdatedAt().Equal(at(10)) {
		t.Errorf("after OrderCancelled: UpdatedAt %v, want %v", o.UpdatedAt(), at(10))
	}
}
