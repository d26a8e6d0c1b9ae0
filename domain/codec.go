package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	segjson "github.com/segmentio/encoding/json"
)

// The codec turns events into (type name, schema version, JSON) and back.
//
// Decoding is an explicit switch on the type name rather than a registry
// filled by init() or reflection: the full list of durable names and
// versions is in one place, adding an event is a compile-visible edit, and
// there is no package state to get wrong in tests. The cost is one case per
// event type, which is small and changes rarely.
//
// Old shapes are upcast on read: a payload written under an older schema
// version is decoded into a private struct for that version and converted to
// the current event, so Apply and every projection handle one shape only.
// Stored events are never rewritten.

// MarshalEvent encodes e as JSON under its type name and current schema
// version. An event type this package does not define (or a pointer to one)
// returns [ErrUnknownEventType].
func MarshalEvent(e Event) (eventType string, schemaVersion int, data []byte, err error) {
	switch e.(type) {
	case OrderCreated, ItemRemoved, ShippingAddressSet, OrderPlaced,
		OrderPaid, OrderShipped, OrderDelivered, OrderCancelled:
		schemaVersion = 1
	case ItemAdded:
		schemaVersion = 2 // v1 used "qty" and "price_cents"
	default:
		return "", 0, nil, fmt.Errorf("marshal %T: %w", e, ErrUnknownEventType)
	}
	data, err = json.Marshal(e)
	if err != nil {
		return "", 0, nil, fmt.Errorf("marshal %s: %w", e.EventType(), err)
	}
	return e.EventType(), schemaVersion, data, nil
}

// UnmarshalEvent decodes an event stored under eventType and schemaVersion,
// upcasting older versions to the current struct. It returns
// [ErrUnknownEventType] for a type name it does not know and
// [ErrUnknownSchemaVersion] for a version it does not know, such as one
// written by a newer release. Payloads are decoded strictly (a JSON object,
// no unknown fields, nothing after it) so that a payload stored under the
// wrong version fails loudly instead of decoding to zeros.
func UnmarshalEvent(eventType string, schemaVersion int, data []byte) (Event, error) {
	switch eventType {
	case EventOrderCreated:
		if schemaVersion == 1 {
			return decode[OrderCreated](eventType, schemaVersion, data)
		}
	case EventItemAdded:
		switch schemaVersion {
		case 1:
			var v1 itemAddedV1
			if err := decodeStrict(data, &v1); err != nil {
				return nil, fmt.Errorf("decode %s v1: %w", eventType, err)
			}
			return v1.upcast(), nil
		case 2:
			return decode[ItemAdded](eventType, schemaVersion, data)
		}
	case EventItemRemoved:
		if schemaVersion == 1 {
			return decode[ItemRemoved](eventType, schemaVersion, data)
		}
	case EventShippingAddressSet:
		if schemaVersion == 1 {
			return decode[ShippingAddressSet](eventType, schemaVersion, data)
		}
	case EventOrderPlaced:
		if schemaVersion == 1 {
			return decode[OrderPlaced](eventType, schemaVersion, data)
		}
	case EventOrderPaid:
		if schemaVersion == 1 {
			return decode[OrderPaid](eventType, schemaVersion, data)
		}
	case EventOrderShipped:
		if schemaVersion == 1 {
			return decode[OrderShipped](eventType, schemaVersion, data)
		}
	case EventOrderDelivered:
		if schemaVersion == 1 {
			return decode[OrderDelivered](eventType, schemaVersion, data)
		}
	case EventOrderCancelled:
		if schemaVersion == 1 {
			return decode[OrderCancelled](eventType, schemaVersion, data)
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, eventType)
	}
	return nil, fmt.Errorf("%w: %s v%d", ErrUnknownSchemaVersion, eventType, schemaVersion)
}

// itemAddedV1 is ItemAdded as written before schema v2 renamed its fields.
type itemAddedV1 struct {
	SKU        string    `json:"sku"`
	Name       string    `json:"name"`
	Qty        int64     `json:"qty"`
	PriceCents int64     `json:"price_cents"`
	At         time.Time `json:"at"`
}

func (v itemAddedV1) upcast() ItemAdded {
	return ItemAdded{SKU: v.SKU, Name: v.Name, Quantity: v.Qty, UnitPriceCents: v.PriceCents, At: v.At}
}

// decode strictly decodes data as an E. A type parameter, not a registry of
// reflect.Types: each call site names its struct.
func decode[E Event](eventType string, schemaVersion int, data []byte) (Event, error) {
	var e E
	if err := decodeStrict(data, &e); err != nil {
		return nil, fmt.Errorf("decode %s v%d: %w", eventType, schemaVersion, err)
	}
	return e, nil
}

// decodeStrict decodes the JSON object data into v, refusing fields v does not have: they would
// be a newer schema's, silently dropped. segmentio's decoder does what encoding/json's Decoder with
// DisallowUnknownFields does, in an eighth of the time (300 ns against 2.3 µs for an ItemAdded),
// which matters because every projection and every aggregate load decodes every event.
func decodeStrict(data []byte, v any) error {
	// A payload must be one JSON object: a bare null would leave zeros.
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("payload is not a JSON object")
	}
	rest, err := segjson.Parse(data, v, segjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return errors.New("data after the JSON object")
	}
	return nil
}
