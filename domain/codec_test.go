package domain

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// codecCases pin every event's durable wire form: type name, schema version
// and JSON field names. A failure here means stored events would no longer
// decode, not that the test needs updating.
var codecCases = []struct {
	event   Event
	typ     string
	version int
	json    string
}{
	{
		OrderCreated{OrderID: orderID, CustomerID: "cust-42", Currency: "EUR", At: now},
		"OrderCreated", 1,
		`{"order_id":"0b6f8c1e-4a3d-4c8e-9f0a-1d2e3f405162","customer_id":"cust-42","currency":"EUR","at":"2026-03-02T10:30:15.123456789Z"}`,
	},
	{
		ItemAdded{SKU: "A-1", Name: "Tasse «groß»", Quantity: 2, UnitPriceCents: 1250, At: now},
		"ItemAdded", 2,
		`{"sku":"A-1","name":"Tasse «groß»","quantity":2,"unit_price_cents":1250,"at":"2026-03-02T10:30:15.123456789Z"}`,
	},
	{
		ItemRemoved{SKU: "A-1", At: now},
		"ItemRemoved", 1,
		`{"sku":"A-1","at":"2026-03-02T10:30:15.123456789Z"}`,
	},
	{
		ShippingAddressSet{Name: "Ada", Line1: "1 Main St", Line2: "Flat 2", City: "London", PostalCode: "N1 9GU", Country: "GB", At: now},
		"ShippingAddressSet", 1,
		`{"name":"Ada","line1":"1 Main St","line2":"Flat 2","city":"London","postal_code":"N1 9GU","country":"GB","at":"2026-03-02T10:30:15.123456789Z"}`,
	},
	{
		OrderPlaced{TotalCents: 20_000_000_000_000_000, Currency: "EUR", ItemCount: 3, At: now},
		"OrderPlaced", 1,
		`{"total_cents":20000000000000000,"currency":"EUR","item_count":3,"at":"2026-03-02T10:30:15.123456789Z"}`,
	},
	{
		OrderPaid{AmountCents: 3000, Currency: "EUR", PaymentReference: "pay_123", At: now},
		"OrderPaid", 1,
		`{"amount_cents":3000,"currency":"EUR","payment_reference":"pay_123","at":"2026-03-02T10:30:15.123456789Z"}`,
	},
	{
		OrderShipped{Carrier: "DHL", TrackingNumber: "JD01", At: now},
		"OrderShipped", 1,
		`{"carrier":"DHL","tracking_number":"JD01","at":"2026-03-02T10:30:15.123456789Z"}`,
	},
	{
		OrderDelivered{At: now},
		"OrderDelivered", 1,
		`{"at":"2026-03-02T10:30:15.123456789Z"}`,
	},
	{
		OrderCancelled{Reason: "changed my mind", PreviousStatus: "paid", At: now},
		"OrderCancelled", 1,
		`{"reason":"changed my mind","previous_status":"paid","at":"2026-03-02T10:30:15.123456789Z"}`,
	},
}

func TestCodecRoundTrip(t *testing.T) {
	for _, tc := range codecCases {
		t.Run(tc.typ, func(t *testing.T) {
			typ, version, data, err := MarshalEvent(tc.event)
			if err != nil {
				t.Fatal(err)
			}
			if typ != tc.typ || typ != tc.event.EventType() || version != tc.version || string(data) != tc.json {
				t.Fatalf("MarshalEvent = %s v%d %s\nwant %s v%d %s", typ, version, data, tc.typ, tc.version, tc.json)
			}
			got, err := UnmarshalEvent(typ, version, data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.event) {
				t.Fatalf("UnmarshalEvent = %#v, want %#v", got, tc.event)
			}
		})
	}
}

// TestDecidedEventsRoundTrip checks that events stamped by Decide from a
// clock reading (with a monotonic part and a local zone) or from a time in
// another zone still decode to equal values.
func TestDecidedEventsRoundTrip(t *testing.T) {
	for _, at := range []time.Time{time.Now(), now.In(mustLoadLocation(t, "Asia/Tokyo"))} {
		events, err := Decide(Rebuild(history(created)), AddItem{SKU: "A-1", Name: "Mug", Quantity: 1, UnitPrice: 5}, at)
		if err != nil {
			t.Fatal(err)
		}
		typ, version, data, err := MarshalEvent(events[0])
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalEvent(typ, version, data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, events[0]) {
			t.Fatalf("round trip changed the event:\n got %#v\nwant %#v", got, events[0])
		}
		if !got.(ItemAdded).At.Equal(at) {
			t.Fatalf("At = %v, want the instant %v", got.(ItemAdded).At, at)
		}
	}
}

func TestItemAddedV1Upcast(t *testing.T) {
	v1 := `{"sku":"A-1","name":"Mug","qty":3,"price_cents":1250,"at":"2026-03-02T10:30:15.123456789Z"}`
	got, err := UnmarshalEvent(EventItemAdded, 1, []byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	want := ItemAdded{SKU: "A-1", Name: "Mug", Quantity: 3, UnitPriceCents: 1250, At: now}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("upcast v1 = %#v, want %#v", got, want)
	}
	// Written back, it is a v2 event.
	if _, version, data, err := MarshalEvent(got); err != nil || version != 2 || !bytes.Contains(data, []byte(`"unit_price_cents":1250`)) {
		t.Fatalf("re-marshal = v%d %s, %v", version, data, err)
	}
	// A v2 payload stored as v1 (or the reverse) fails instead of decoding
	// to a zero quantity.
	v2 := `{"sku":"A-1","name":"Mug","quantity":3,"unit_price_cents":1250,"at":"2026-03-02T10:30:15Z"}`
	if _, err := UnmarshalEvent(EventItemAdded, 1, []byte(v2)); err == nil {
		t.Error("v2 payload decoded as v1")
	}
	if _, err := UnmarshalEvent(EventItemAdded, 2, []byte(v1)); err == nil {
		t.Error("v1 payload decoded as v2")
	}
}

func TestUnmarshalEventErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		typ     string
		version int
		data    string
		wantErr error // nil: any error that is neither sentinel
	}{
		{"unknown type", "OrderRefunded", 1, `{}`, ErrUnknownEventType},
		{"type names are case-sensitive", "orderCreated", 1, `{}`, ErrUnknownEventType},
		{"empty type", "", 1, `{}`, ErrUnknownEventType},
		{"version from the future", EventItemAdded, 3, `{}`, ErrUnknownSchemaVersion},
		{"version zero", EventOrderCreated, 0, `{}`, ErrUnknownSchemaVersion},
		{"v2 of a v1 event", EventOrderPaid, 2, `{}`, ErrUnknownSchemaVersion},
		{"negative version", EventOrderDelivered, -1, `{}`, ErrUnknownSchemaVersion},
		{"malformed json", EventOrderDelivered, 1, `{"at":`, nil},
		{"unknown field", EventOrderDelivered, 1, `{"at":"2026-03-02T10:30:15Z","by":"me"}`, nil},
		{"wrong field type", EventItemRemoved, 1, `{"sku":42}`, nil},
		{"null", EventOrderDelivered, 1, `null`, nil},
		{"array", EventOrderDelivered, 1, `[]`, nil},
		{"empty", EventOrderDelivered, 1, ``, nil},
		{"trailing data", EventOrderDelivered, 1, `{"at":"2026-03-02T10:30:15Z"} {}`, nil},
		{"trailing garbage", EventOrderDelivered, 1, `{"at":"2026-03-02T10:30:15Z"}x`, nil},
		{"unknown field of a v1 shape", EventItemAdded, 1, `{"qty":3,"quantity":3}`, nil},
		{"bad v1 payload", EventItemAdded, 1, `{"qty":"3"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UnmarshalEvent(tc.typ, tc.version, []byte(tc.data))
			if err == nil || got != nil {
				t.Fatalf("= %#v, %v; want no event and an error", got, err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (errors.Is(err, ErrUnknownEventType) || errors.Is(err, ErrUnknownSchemaVersion)) {
				t.Fatalf("a bad payload reported as %v", err)
			}
		})
	}
}

type foreignEvent struct{}

func (foreignEvent) EventType() string { return "Foreign" }

func TestMarshalEventErrors(t *testing.T) {
	for _, e := range []Event{foreignEvent{}, &OrderDelivered{At: now}, nil} {
		if _, _, _, err := MarshalEvent(e); !errors.Is(err, ErrUnknownEventType) {
			t.Errorf("MarshalEvent(%#v) error = %v, want ErrUnknownEventType", e, err)
		}
	}
	// json refuses years past 9999; the error surfaces instead of a panic.
	far := OrderDelivered{At: now.AddDate(10_000, 0, 0)}
	if _, _, _, err := MarshalEvent(far); err == nil {
		t.Error("MarshalEvent with year 12026 succeeded")
	}
}

// FuzzUnmarshalEvent checks that arbitrary stored bytes never panic the
// decoder and that whatever decodes re-encodes stably.
func FuzzUnmarshalEvent(f *testing.F) {
	for _, tc := range codecCases {
		f.Add(tc.typ, tc.version, []byte(tc.json))
	}
	f.Add(EventItemAdded, 1, []byte(`{"sku":"A","name":"B","qty":1,"price_cents":2,"at":"2026-01-01T00:00:00+09:00"}`))
	f.Add(EventOrderCreated, 1, []byte(`{"order_id":"not-a-uuid"}`))
	f.Add("Nope", 1, []byte(`{}`))
	f.Fuzz(func(t *testing.T, typ string, version int, data []byte) {
		e, err := UnmarshalEvent(typ, version, data)
		if err != nil {
			if e != nil {
				t.Fatalf("event %#v alongside error %v", e, err)
			}
			return
		}
		typ2, version2, data2, err := MarshalEvent(e)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", e, err)
		}
		if typ2 != typ {
			t.Fatalf("type %q decoded as %q", typ, typ2)
		}
		e2, err := UnmarshalEvent(typ2, version2, data2)
		if err != nil {
			t.Fatalf("own output %s does not decode: %v", data2, err)
		}
		if _, _, data3, _ := MarshalEvent(e2); !bytes.Equal(data2, data3) {
			t.Fatalf("unstable encoding:\n%s\n%s", data2, data3)
		}
	})
}
