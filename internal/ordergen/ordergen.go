// Package ordergen generates random, valid order histories: to append in tests, and to pre-load in
// bulk (with COPY) for the projector's tests and the benchmark's rebuild measurement. It imports no
// testing code, so that the benchmark binary does not link the testing package.
package ordergen

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/domain"
)

// History returns the events of one order with a random, valid history that starts at start: created,
// items added (some SKUs twice, merging), maybe one removed, an address, and then one of the endings
// (left as a draft, cancelled as a draft, placed, paid, shipped, delivered, cancelled after placing or
// paying). Times have nanoseconds, as the command side's clock gives them (PostgreSQL keeps
// microseconds), and may cross midnight.
func History(rng *rand.Rand, id uuid.UUID, customer, currency string, start time.Time) []domain.Event {
	at := start.UTC()
	tick := func() time.Time {
		at = at.Add(time.Duration(rng.Int64N(90*60_000_000_000)+1) * time.Nanosecond) // up to 90 minutes
		return at
	}
	events := []domain.Event{domain.OrderCreated{OrderID: id, CustomerID: customer, Currency: currency, At: at}}
	type line struct {
		qty, price int64
	}
	lines := map[string]line{}
	var skus []string
	for range 1 + rng.IntN(4) {
		sku := fmt.Sprintf("SKU-%d", rng.IntN(5))
		qty, price := int64(1+rng.IntN(3)), int64(100+rng.IntN(5000))
		l, ok := lines[sku]
		if ok {
			price = l.price // a repeated add merges into the line at its price
		} else {
			skus = append(skus, sku)
		}
		lines[sku] = line{qty: l.qty + qty, price: price}
		events = append(events, domain.ItemAdded{SKU: sku, Name: "Item " + sku, Quantity: qty, UnitPriceCents: price, At: tick()})
	}
	if len(skus) > 1 && rng.IntN(3) == 0 {
		sku := skus[rng.IntN(len(skus))]
		delete(lines, sku)
		events = append(events, domain.ItemRemoved{SKU: sku, At: tick()})
	}
	line2 := ""
	if rng.IntN(2) == 0 {
		line2 = "Flat 2"
	}
	events = append(events, domain.ShippingAddressSet{Name: "Ada " + customer, Line1: "1 Main St", Line2: line2,
		City: "Berlin", PostalCode: "10115", Country: "DE", At: tick()})

	var total, count int64
	for _, l := range lines {
		total += l.qty * l.price
		count += l.qty
	}
	placed := domain.OrderPlaced{TotalCents: total, Currency: currency, ItemCount: count, At: tick()}
	paid := domain.OrderPaid{AmountCents: total, Currency: currency, PaymentReference: "pay-" + id.String()[:8], At: tick()}
	shipped := domain.OrderShipped{Carrier: "DHL", TrackingNumber: "TN-" + id.String()[:8], At: tick()}
	switch rng.IntN(8) {
	case 0: // a draft
	case 1:
		events = append(events, domain.OrderCancelled{Reason: "changed my mind", PreviousStatus: "draft", At: tick()})
	case 2:
		events = append(events, placed)
	case 3:
		events = append(events, placed, domain.OrderCancelled{Reason: "too slow", PreviousStatus: "placed", At: tick()})
	case 4:
		events = append(events, placed, paid)
	case 5:
		events = append(events, placed, paid, domain.OrderCancelled{Reason: "refund", PreviousStatus: "paid", At: tick()})
	case 6:
		events = append(events, placed, paid, shipped)
	default:
		events = append(events, placed, paid, shipped, domain.OrderDelivered{At: tick()})
	}
	return events
}
