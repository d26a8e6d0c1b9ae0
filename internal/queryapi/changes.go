package queryapi

import (
	"slices"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
)

// change is one key field of an event: what the event changed, for people reading a history.
type change struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// changesOf returns the key fields of an event, decoded and upcast by the domain's codec so that every
// schema version reads the same. An event this release cannot decode (a newer type or version) has
// none: its data is still in the history, as stored.
func changesOf(r eventstore.RecordedEvent) []change {
	e, err := domain.UnmarshalEvent(r.Type, r.SchemaVersion, r.Data)
	if err != nil {
		return []change{}
	}
	money := func(cents int64, currency string) string {
		return strconv.FormatInt(cents, 10) + " " + currency
	}
	num := func(n int64) string { return strconv.FormatInt(n, 10) }
	var cs []change
	add := func(field, value string) {
		if value != "" {
			cs = append(cs, change{field, value})
		}
	}
	switch e := e.(type) {
	case domain.OrderCreated:
		add("customer_id", e.CustomerID)
		add("currency", e.Currency)
	case domain.ItemAdded:
		add("sku", e.SKU)
		add("name", e.Name)
		add("quantity", num(e.Quantity))
		add("unit_price_cents", num(e.UnitPriceCents))
	case domain.ItemRemoved:
		add("sku", e.SKU)
	case domain.ShippingAddressSet:
		add("name", e.Name)
		add("address", strings.Join(slices.DeleteFunc([]string{e.Line1, e.Line2}, func(s string) bool { return s == "" }), ", "))
		add("city", e.PostalCode+" "+e.City)
		add("country", e.Country)
	case domain.OrderPlaced:
		add("total_cents", money(e.TotalCents, e.Currency))
		add("item_count", num(e.ItemCount))
	case domain.OrderPaid:
		add("amount_cents", money(e.AmountCents, e.Currency))
		add("payment_reference", e.PaymentReference)
	case domain.OrderShipped:
		add("carrier", e.Carrier)
		add("tracking_number", e.TrackingNumber)
	case domain.OrderCancelled:
		add("reason", e.Reason)
		add("previous_status", e.PreviousStatus)
	}
	if cs == nil {
		cs = []change{}
	}
	return cs
}
