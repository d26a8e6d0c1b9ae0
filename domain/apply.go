package domain

import "slices"

// Apply folds one event into the order and counts it in Version.
//
// It never validates and never fails: events are facts that were accepted
// under the rules of their day, and refusing one now would make the order
// unreadable. Checks belong in the decisions. An event type Apply does not
// know still counts towards Version, because Version must stay equal to the
// stream's length for optimistic concurrency.
//
// Events are values (ItemAdded, not *ItemAdded), as Decide and UnmarshalEvent
// return them.
func (o *Order) Apply(e Event) {
	o.version++
	switch e := e.(type) {
	case OrderCreated:
		o.id = e.OrderID
		o.customerID = CustomerID(e.CustomerID)
		o.currency = Currency(e.Currency)
		o.status = StatusDraft
		o.createdAt = e.At
		o.updatedAt = e.At
	case ItemAdded:
		// ItemAdded carries the quantity added, so a second add of a SKU
		// merges into the line it already has.
		if i := o.line(SKU(e.SKU)); i >= 0 {
			o.lines[i].Quantity += Quantity(e.Quantity)
		} else {
			o.lines = append(o.lines, Line{
				SKU:       SKU(e.SKU),
				Name:      ItemName(e.Name),
				Quantity:  Quantity(e.Quantity),
				UnitPrice: Amount(e.UnitPriceCents),
			})
		}
		o.updatedAt = e.At
	case ItemRemoved:
		if i := o.line(SKU(e.SKU)); i >= 0 {
			o.lines = slices.Delete(o.lines, i, i+1)
		}
		o.updatedAt = e.At
	case ShippingAddressSet:
		o.address = Address{
			name:       e.Name,
			line1:      e.Line1,
			line2:      e.Line2,
			city:       e.City,
			postalCode: e.PostalCode,
			country:    Country(e.Country),
		}
		o.hasAddress = true
		o.updatedAt = e.At
	case OrderPlaced:
		o.status = StatusPlaced
		o.updatedAt = e.At
	case OrderPaid:
		o.status = StatusPaid
		o.paymentRef = e.PaymentReference
		o.updatedAt = e.At
	case OrderShipped:
		o.status = StatusShipped
		o.carrier = e.Carrier
		o.tracking = e.TrackingNumber
		o.updatedAt = e.At
	case OrderDelivered:
		o.status = StatusDelivered
		o.updatedAt = e.At
	case OrderCancelled:
		o.status = StatusCancelled
		o.cancelNote = e.Reason
		o.updatedAt = e.At
	}
}
