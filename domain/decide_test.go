package domain

import (
	"errors"
	"testing"

	"github.com/google/uuid"
)

func TestCreate(t *testing.T) {
	runDecide(t, []decideCase{
		{
			name: "creates a draft",
			when: CreateOrder{OrderID: orderID, CustomerID: "cust-42", Currency: "EUR"},
			then: []Event{OrderCreated{OrderID: orderID, CustomerID: "cust-42", Currency: "EUR", At: now}},
		},
		{
			name:    "second create of the same order",
			given:   history(created),
			when:    CreateOrder{OrderID: orderID, CustomerID: "cust-42", Currency: "EUR"},
			wantErr: ErrOrderExists,
		},
		{
			name:    "create over a cancelled order",
			given:   cancelledHistory(),
			when:    CreateOrder{OrderID: orderID, CustomerID: "cust-42", Currency: "EUR"},
			wantErr: ErrOrderExists,
		},
		{
			name:    "nil order id",
			when:    CreateOrder{OrderID: uuid.Nil, CustomerID: "cust-42", Currency: "EUR"},
			wantErr: ErrInvalidOrderID,
		},
		{
			name:    "customer id not from its constructor",
			when:    CreateOrder{OrderID: orderID, CustomerID: " cust", Currency: "EUR"},
			wantErr: ErrInvalidCustomerID,
		},
		{
			name:    "currency not from its constructor",
			when:    CreateOrder{OrderID: orderID, CustomerID: "cust-42", Currency: "XXX"},
			wantErr: ErrInvalidCurrency,
		},
	})
}

func TestCommandsNeedAnExistingOrder(t *testing.T) {
	commands := []Command{
		AddItem{SKU: "A-1", Name: "Mug", Quantity: 1, UnitPrice: 1},
		RemoveItem{SKU: "A-1"},
		SetShippingAddress{Address: testAddress(t)},
		PlaceOrder{},
		PayOrder{Amount: 0, PaymentReference: "pay_1"},
		ShipOrder{Carrier: "DHL", TrackingNumber: "1"},
		DeliverOrder{},
		CancelOrder{Reason: "test"},
	}
	var cases []decideCase
	for _, c := range commands {
		cases = append(cases, decideCase{name: c.CommandName(), when: c, wantErr: ErrOrderNotFound})
	}
	runDecide(t, cases)

	// A nil *Order is an order that does not exist, too.
	if _, err := Decide(nil, PlaceOrder{}, now); !errors.Is(err, ErrOrderNotFound) {
		t.Errorf("Decide(nil, PlaceOrder) error = %v, want ErrOrderNotFound", err)
	}
	if events, err := Decide(nil, CreateOrder{OrderID: orderID, CustomerID: "c", Currency: "JPY"}, now); err != nil || len(events) != 1 {
		t.Errorf("Decide(nil, CreateOrder) = %v, %v; want one event", events, err)
	}
}

func TestUnknownCommand(t *testing.T) {
	runDecide(t, []decideCase{
		{name: "pointer to a command", given: draftHistory(), when: &PlaceOrder{}, wantErr: ErrUnknownCommand},
		{name: "nil command", given: draftHistory(), when: nil, wantErr: ErrUnknownCommand},
	})
}

func TestAddItem(t *testing.T) {
	mug := func(qty Quantity) AddItem { return AddItem{SKU: "A-1", Name: "Mug", Quantity: qty, UnitPrice: 1250} }
	bulk := func(sku string) AddItem { return AddItem{SKU: SKU(sku), Name: "Bulk", Quantity: 1, UnitPrice: 7} }
	runDecide(t, []decideCase{
		{
			name:  "first item",
			given: history(created),
			when:  AddItem{SKU: must(NewSKU("A-1")), Name: must(NewItemName("Mug")), Quantity: must(NewQuantity(2)), UnitPrice: must(NewUnitPrice(1250))},
			then:  []Event{ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 2, UnitPriceCents: 1250, At: now}},
		},
		{
			name:  "existing sku adds to its line: the event carries the quantity added",
			given: history(created, addedA),
			when:  mug(3),
			then:  []Event{ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 3, UnitPriceCents: 1250, At: now}},
		},
		{
			name:  "merged quantity reaches the limit",
			given: history(created, ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 9000, UnitPriceCents: 1250, At: t0}),
			when:  mug(1000),
			then:  []Event{ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 1000, UnitPriceCents: 1250, At: now}},
		},
		{
			name:    "merged quantity over the limit",
			given:   history(created, ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 9000, UnitPriceCents: 1250, At: t0}),
			when:    mug(1001),
			wantErr: ErrLineQuantityExceeded,
		},
		{
			name:    "existing sku with another name",
			given:   history(created, addedA),
			when:    AddItem{SKU: "A-1", Name: "Cup", Quantity: 1, UnitPrice: 1250},
			wantErr: ErrLineMismatch,
		},
		{
			name:    "existing sku at another unit price",
			given:   history(created, addedA),
			when:    AddItem{SKU: "A-1", Name: "Mug", Quantity: 1, UnitPrice: 1249},
			wantErr: ErrLineMismatch,
		},
		{
			name:  "sku added again after its removal",
			given: history(created, addedA, ItemRemoved{SKU: "A-1", At: t0}),
			when:  AddItem{SKU: "A-1", Name: "Cup", Quantity: 1, UnitPrice: 99},
			then:  []Event{ItemAdded{SKU: "A-1", Name: "Cup", Quantity: 1, UnitPriceCents: 99, At: now}},
		},
		{
			name:  "quantity 10000 in one add",
			given: history(created),
			when:  mug(10_000),
			then:  []Event{ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 10_000, UnitPriceCents: 1250, At: now}},
		},
		{name: "quantity 0", given: history(created), when: mug(0), wantErr: ErrQuantityOutOfRange},
		{name: "quantity 10001", given: history(created), when: mug(10_001), wantErr: ErrQuantityOutOfRange},
		{
			name:  "free item",
			given: history(created),
			when:  AddItem{SKU: "GIFT", Name: "Sticker", Quantity: 1, UnitPrice: 0},
			then:  []Event{ItemAdded{SKU: "GIFT", Name: "Sticker", Quantity: 1, UnitPriceCents: 0, At: now}},
		},
		{
			name:  "unit price at the cap",
			given: history(created),
			when:  AddItem{SKU: "CAR", Name: "Car", Quantity: 1, UnitPrice: MaxUnitPrice},
			then:  []Event{ItemAdded{SKU: "CAR", Name: "Car", Quantity: 1, UnitPriceCents: 10_000_000_000, At: now}},
		},
		{
			name:    "unit price over the cap",
			given:   history(created),
			when:    AddItem{SKU: "CAR", Name: "Car", Quantity: 1, UnitPrice: MaxUnitPrice + 1},
			wantErr: ErrUnitPriceOutOfRange,
		},
		{
			name:    "negative unit price",
			given:   history(created),
			when:    AddItem{SKU: "CAR", Name: "Car", Quantity: 1, UnitPrice: -1},
			wantErr: ErrUnitPriceOutOfRange,
		},
		{
			name:    "sku not from its constructor",
			given:   history(created),
			when:    AddItem{SKU: "", Name: "Mug", Quantity: 1, UnitPrice: 1},
			wantErr: ErrInvalidSKU,
		},
		{
			name:    "name not from its constructor",
			given:   history(created),
			when:    AddItem{SKU: "A-1", Name: "", Quantity: 1, UnitPrice: 1},
			wantErr: ErrInvalidItemName,
		},
		{
			name:  "200th line",
			given: withLines(199, 1, 7),
			when:  bulk("NEW"),
			then:  []Event{ItemAdded{SKU: "NEW", Name: "Bulk", Quantity: 1, UnitPriceCents: 7, At: now}},
		},
		{name: "201st line", given: withLines(200, 1, 7), when: bulk("NEW"), wantErr: ErrTooManyLines},
		{
			name:  "existing sku still merges at 200 lines",
			given: withLines(200, 1, 7),
			when:  bulk("SKU-0199"),
			then:  []Event{ItemAdded{SKU: "SKU-0199", Name: "Bulk", Quantity: 1, UnitPriceCents: 7, At: now}},
		},
		{name: "placed order", given: placedHistory(), when: mug(1), wantErr: ErrNotDraft},
		{name: "paid order", given: paidHistory(), when: mug(1), wantErr: ErrNotDraft},
		{name: "cancelled order", given: cancelledHistory(), when: mug(1), wantErr: ErrNotDraft},
	})
}

func TestRemoveItem(t *testing.T) {
	runDecide(t, []decideCase{
		{
			name:  "present sku",
			given: draftHistory(),
			when:  RemoveItem{SKU: "B-2"},
			then:  []Event{ItemRemoved{SKU: "B-2", At: now}},
		},
		{name: "absent sku", given: draftHistory(), when: RemoveItem{SKU: "Z-9"}, wantErr: ErrItemNotFound},
		{
			name:    "sku already removed",
			given:   append(draftHistory(), ItemRemoved{SKU: "B-2", At: t0}),
			when:    RemoveItem{SKU: "B-2"},
			wantErr: ErrItemNotFound,
		},
		{name: "placed order", given: placedHistory(), when: RemoveItem{SKU: "A-1"}, wantErr: ErrNotDraft},
		{name: "cancelled order", given: cancelledHistory(), when: RemoveItem{SKU: "A-1"}, wantErr: ErrNotDraft},
	})
}

func TestSetShippingAddress(t *testing.T) {
	a := testAddress(t)
	set := ShippingAddressSet{Name: "Grace Hopper", Line1: "1 Navy Way", Line2: "Suite 2", City: "Arlington", PostalCode: "22202", Country: "US", At: now}
	runDecide(t, []decideCase{
		{name: "first address", given: history(created), when: SetShippingAddress{Address: a}, then: []Event{set}},
		{name: "replaces the address", given: draftHistory(), when: SetShippingAddress{Address: a}, then: []Event{set}},
		{
			name:    "zero address",
			given:   history(created),
			when:    SetShippingAddress{},
			wantErr: ErrInvalidAddress,
		},
		{name: "placed order", given: placedHistory(), when: SetShippingAddress{Address: a}, wantErr: ErrNotDraft},
		{name: "shipped order", given: shippedHistory(), when: SetShippingAddress{Address: a}, wantErr: ErrNotDraft},
		{name: "cancelled order", given: cancelledHistory(), when: SetShippingAddress{Address: a}, wantErr: ErrNotDraft},
	})
}

func TestPlace(t *testing.T) {
	runDecide(t, []decideCase{
		{
			name:  "draft with items and address",
			given: draftHistory(),
			when:  PlaceOrder{},
			then:  []Event{OrderPlaced{TotalCents: 2*1250 + 500, Currency: "EUR", ItemCount: 3, At: now}},
		},
		{
			name:  "merged line counts in total and item count",
			given: append(draftHistory(), ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 5, UnitPriceCents: 1250, At: t0}),
			when:  PlaceOrder{},
			then:  []Event{OrderPlaced{TotalCents: 7*1250 + 500, Currency: "EUR", ItemCount: 8, At: now}},
		},
		{
			name: "largest possible order does not overflow",
			given: append(withLines(200, MaxQuantity, int64(MaxUnitPrice)),
				ShippingAddressSet{Name: "n", Line1: "l", City: "c", PostalCode: "p", Country: "DE", At: t0}),
			when: PlaceOrder{},
			then: []Event{OrderPlaced{TotalCents: 200 * 10_000 * 10_000_000_000, Currency: "EUR", ItemCount: 2_000_000, At: now}},
		},
		{name: "no items", given: history(created, addressSet), when: PlaceOrder{}, wantErr: ErrNoItems},
		{
			name:    "every item removed",
			given:   history(created, addedA, addressSet, ItemRemoved{SKU: "A-1", At: t0}),
			when:    PlaceOrder{},
			wantErr: ErrNoItems,
		},
		{name: "no shipping address", given: history(created, addedA), when: PlaceOrder{}, wantErr: ErrNoShippingAddress},
		{name: "placed twice", given: placedHistory(), when: PlaceOrder{}, wantErr: ErrNotDraft},
		{name: "paid order", given: paidHistory(), when: PlaceOrder{}, wantErr: ErrNotDraft},
		{name: "cancelled order", given: cancelledHistory(), when: PlaceOrder{}, wantErr: ErrNotDraft},
	})
}

func TestPay(t *testing.T) {
	pay := func(minor int64) PayOrder { return PayOrder{Amount: Amount(minor), PaymentReference: "pay_123"} }
	runDecide(t, []decideCase{
		{
			name:  "exact total",
			given: placedHistory(),
			when:  PayOrder{Amount: must(NewPaymentAmount(3000)), PaymentReference: must(NewPaymentReference("pay_123"))},
			then:  []Event{OrderPaid{AmountCents: 3000, Currency: "EUR", PaymentReference: "pay_123", At: now}},
		},
		{name: "one cent short", given: placedHistory(), when: pay(2999), wantErr: ErrAmountMismatch},
		{name: "one cent over", given: placedHistory(), when: pay(3001), wantErr: ErrAmountMismatch},
		{
			name: "free order paid with zero",
			given: history(created, ItemAdded{SKU: "GIFT", Name: "Sticker", Quantity: 3, UnitPriceCents: 0, At: t0}, addressSet,
				OrderPlaced{TotalCents: 0, Currency: "EUR", ItemCount: 3, At: t0}),
			when: pay(0),
			then: []Event{OrderPaid{AmountCents: 0, Currency: "EUR", PaymentReference: "pay_123", At: now}},
		},
		{name: "negative amount", given: placedHistory(), when: pay(-3000), wantErr: ErrInvalidAmount},
		{name: "empty payment reference", given: placedHistory(), when: PayOrder{Amount: 3000}, wantErr: ErrInvalidPaymentReference},
		{name: "draft", given: draftHistory(), when: pay(3000), wantErr: ErrNotPlaced},
		{name: "paid twice", given: paidHistory(), when: pay(3000), wantErr: ErrNotPlaced},
		{name: "shipped order", given: shippedHistory(), when: pay(3000), wantErr: ErrNotPlaced},
		{
			name:    "cancelled after placing",
			given:   append(placedHistory(), OrderCancelled{Reason: "r", PreviousStatus: "placed", At: t0}),
			when:    pay(3000),
			wantErr: ErrNotPlaced,
		},
	})
}

func TestShip(t *testing.T) {
	ship := ShipOrder{Carrier: "UPS", TrackingNumber: "1Z999AA10123456784"}
	runDecide(t, []decideCase{
		{
			name:  "paid order",
			given: paidHistory(),
			when:  ShipOrder{Carrier: must(NewCarrier("UPS")), TrackingNumber: must(NewTrackingNumber("1Z999AA10123456784"))},
			then:  []Event{OrderShipped{Carrier: "UPS", TrackingNumber: "1Z999AA10123456784", At: now}},
		},
		{name: "draft", given: draftHistory(), when: ship, wantErr: ErrNotPaid},
		{name: "placed but unpaid", given: placedHistory(), when: ship, wantErr: ErrNotPaid},
		{name: "shipped twice", given: shippedHistory(), when: ship, wantErr: ErrNotPaid},
		{name: "delivered order", given: deliveredHistory(), when: ship, wantErr: ErrNotPaid},
		{
			name:    "cancelled after paying",
			given:   append(paidHistory(), OrderCancelled{Reason: "r", PreviousStatus: "paid", At: t0}),
			when:    ship,
			wantErr: ErrNotPaid,
		},
		{name: "empty carrier", given: paidHistory(), when: ShipOrder{TrackingNumber: "1"}, wantErr: ErrInvalidCarrier},
		{name: "empty tracking number", given: paidHistory(), when: ShipOrder{Carrier: "UPS"}, wantErr: ErrInvalidTrackingNumber},
	})
}

func TestDeliver(t *testing.T) {
	runDecide(t, []decideCase{
		{name: "shipped order", given: shippedHistory(), when: DeliverOrder{}, then: []Event{OrderDelivered{At: now}}},
		{name: "draft", given: draftHistory(), when: DeliverOrder{}, wantErr: ErrNotShipped},
		{name: "placed order", given: placedHistory(), when: DeliverOrder{}, wantErr: ErrNotShipped},
		{name: "paid but not shipped", given: paidHistory(), when: DeliverOrder{}, wantErr: ErrNotShipped},
		{name: "delivered twice", given: deliveredHistory(), when: DeliverOrder{}, wantErr: ErrNotShipped},
		{name: "cancelled order", given: cancelledHistory(), when: DeliverOrder{}, wantErr: ErrNotShipped},
	})
}

func TestCancel(t *testing.T) {
	cancel := CancelOrder{Reason: "customer asked"}
	cancelled := func(from Status) []Event {
		return []Event{OrderCancelled{Reason: "customer asked", PreviousStatus: string(from), At: now}}
	}
	runDecide(t, []decideCase{
		{name: "draft", given: draftHistory(), when: CancelOrder{Reason: must(NewCancelReason("customer asked"))}, then: cancelled(StatusDraft)},
		{name: "empty draft", given: history(created), when: cancel, then: cancelled(StatusDraft)},
		{name: "placed order", given: placedHistory(), when: cancel, then: cancelled(StatusPlaced)},
		{name: "paid order", given: paidHistory(), when: cancel, then: cancelled(StatusPaid)},
		{name: "shipped order", given: shippedHistory(), when: cancel, wantErr: ErrCannotCancel},
		{name: "delivered order", given: deliveredHistory(), when: cancel, wantErr: ErrCannotCancel},
		{name: "cancelled twice", given: cancelledHistory(), when: cancel, wantErr: ErrCannotCancel},
		{name: "empty reason", given: draftHistory(), when: CancelOrder{}, wantErr: ErrInvalidCancelReason},
	})
}

// TestLifecycle drives one order through every state with Decide and Apply,
// the way the command side does.
func TestLifecycle(t *testing.T) {
	o := Rebuild(nil)
	step := func(cmd Command, want Status) {
		t.Helper()
		events, err := Decide(o, cmd, now)
		if err != nil {
			t.Fatalf("%s: %v", cmd.CommandName(), err)
		}
		for _, e := range events {
			o.Apply(e)
		}
		if o.Status() != want {
			t.Fatalf("after %s: status %q, want %q", cmd.CommandName(), o.Status(), want)
		}
	}
	step(CreateOrder{OrderID: orderID, CustomerID: "cust-42", Currency: "JPY"}, StatusDraft)
	step(AddItem{SKU: "A-1", Name: "Mug", Quantity: 2, UnitPrice: 1500}, StatusDraft)
	step(SetShippingAddress{Address: testAddress(t)}, StatusDraft)
	step(PlaceOrder{}, StatusPlaced)
	step(PayOrder{Amount: 3000, PaymentReference: "pay_1"}, StatusPaid)
	step(ShipOrder{Carrier: "Yamato", TrackingNumber: "1234"}, StatusShipped)
	step(DeliverOrder{}, StatusDelivered)
	if o.Version() != 7 {
		t.Errorf("version %d, want 7", o.Version())
	}
}

func TestCommandNames(t *testing.T) {
	for want, c := range map[string]Command{
		"CreateOrder": CreateOrder{}, "AddItem": AddItem{}, "RemoveItem": RemoveItem{},
		"SetShippingAddress": SetShippingAddress{}, "PlaceOrder": PlaceOrder{}, "PayOrder": PayOrder{},
		"ShipOrder": ShipOrder{}, "DeliverOrder": DeliverOrder{}, "CancelOrder": CancelOrder{},
	} {
		if got := c.CommandName(); got != want {
			t.Errorf("%T.CommandName() = %q, want %q", c, got, want)
		}
	}
}
