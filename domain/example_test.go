package domain_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/domain"
)

// The command side: load the history, decide, store the events, apply them.
func Example() {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var history []domain.Event
	run := func(cmd domain.Command) error {
		events, err := domain.Decide(domain.Rebuild(history), cmd, now)
		if err != nil {
			return err
		}
		history = append(history, events...) // in production: append to the event store
		return nil
	}

	customer, _ := domain.NewCustomerID("cust-42")
	eur, _ := domain.ParseCurrency("EUR")
	sku, _ := domain.NewSKU("MUG-RED")
	name, _ := domain.NewItemName("Red mug")
	qty, _ := domain.NewQuantity(2)
	price, _ := domain.NewUnitPrice(1250)
	addr, _ := domain.NewAddress("Ada Lovelace", "12 St James's Square", "", "London", "SW1Y 4JH", "GB")

	for _, cmd := range []domain.Command{
		domain.CreateOrder{OrderID: uuid.MustParse("0b6f8c1e-4a3d-4c8e-9f0a-1d2e3f405162"), CustomerID: customer, Currency: eur},
		domain.AddItem{SKU: sku, Name: name, Quantity: qty, UnitPrice: price},
		domain.SetShippingAddress{Address: addr},
		domain.PlaceOrder{},
	} {
		if err := run(cmd); err != nil {
			fmt.Println(cmd.CommandName(), err)
			return
		}
	}

	err := run(domain.PayOrder{Amount: 2000, PaymentReference: "pay_1"})
	fmt.Println(errors.Is(err, domain.ErrAmountMismatch))

	o := domain.Rebuild(history)
	fmt.Println(o.Status(), o.Total().Amount(), o.Total().Currency(), o.Version())
	// Output:
	// true
	// placed 2500 EUR 4
}

// Events are stored as type name, schema version and JSON; older versions
// are upcast when read.
func ExampleUnmarshalEvent() {
	v1 := []byte(`{"sku":"MUG-RED","name":"Red mug","qty":2,"price_cents":1250,"at":"2024-05-01T12:00:00Z"}`)
	e, err := domain.UnmarshalEvent(domain.EventItemAdded, 1, v1)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", e.(domain.ItemAdded))
	typ, version, data, _ := domain.MarshalEvent(e)
	fmt.Println(typ, version, string(data))
	// Output:
	// {SKU:MUG-RED Name:Red mug Quantity:2 UnitPriceCents:1250 At:2024-05-01 12:00:00 +0000 UTC}
	// ItemAdded 2 {"sku":"MUG-RED","name":"Red mug","quantity":2,"unit_price_cents":1250,"at":"2024-05-01T12:00:00Z"}
}
