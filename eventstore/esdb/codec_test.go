package esdb

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
)

func TestExpectedRevision(t *testing.T) {
	tests := []struct {
		expected eventstore.ExpectedVersion
		want     esdb.ExpectedRevision
	}{
		{eventstore.Any(), esdb.Any{}},
		{eventstore.ExpectedVersion{}, esdb.Any{}},
		{eventstore.NoStream(), esdb.NoStream{}},
		{eventstore.Exact(0), esdb.NoStream{}},
		{eventstore.StreamExists(), esdb.StreamExists{}},
		{eventstore.Exact(1), esdb.Revision(0)},
		{eventstore.Exact(42), esdb.Revision(41)},
	}
	for _, tc := range tests {
		if got := expectedRevision(tc.expected); got != tc.want {
			t.Errorf("expectedRevision(%s) = %#v, want %#v", tc.expected, got, tc.want)
		}
	}
}

func TestVersionsAreRevisionsPlusOne(t *testing.T) {
	for _, tc := range []struct{ revision, version uint64 }{{0, 1}, {1, 2}, {41, 42}} {
		if got := versionOf(tc.revision); got != tc.version {
			t.Errorf("versionOf(%d) = %d, want %d", tc.revision, got, tc.version)
		}
	}
}

func TestStreamFrom(t *testing.T) {
	tests := []struct {
		from uint64
		want esdb.StreamPosition
	}{
		{0, esdb.Start{}},
		{1, esdb.Start{}},
		{2, esdb.Revision(1)},
		{500, esdb.Revision(499)},
	}
	for _, tc := range tests {
		if got := streamFrom(tc.from); got != tc.want {
			t.Errorf("streamFrom(%d) = %#v, want %#v", tc.from, got, tc.want)
		}
	}
}

func TestPositions(t *testing.T) {
	if got := allFrom(eventstore.Position{}); got != (esdb.Start{}) {
		t.Errorf("allFrom(zero) = %#v, want Start", got)
	}
	p := eventstore.Position{Commit: 1788, Prepare: 1650}
	if got := allFrom(p); got != (esdb.Position{Commit: 1788, Prepare: 1650}) {
		t.Errorf("allFrom(%s) = %#v, want both parts kept", p, got)
	}
	if got := positionOf(esdb.Position{Commit: 1788, Prepare: 1650}); got != p {
		t.Errorf("positionOf = %s, want %s", got, p)
	}
}

func TestAfterIsStrict(t *testing.T) {
	from := eventstore.Position{Commit: 200, Prepare: 150}
	tests := []struct {
		p, from eventstore.Position
		want    bool
	}{
		{from, from, false}, // ESDB's read starts with this one: skip it
		{eventstore.Position{Commit: 200, Prepare: 149}, from, false},
		{eventstore.Position{Commit: 199, Prepare: 400}, from, false},
		{eventstore.Position{Commit: 200, Prepare: 151}, from, true}, // same commit, later prepare
		{eventstore.Position{Commit: 201, Prepare: 0}, from, true},
		{eventstore.Position{Commit: 1, Prepare: 1}, eventstore.Position{}, true}, // zero is the start
	}
	for _, tc := range tests {
		if got := after(tc.p, tc.from); got != tc.want {
			t.Errorf("after(%s, %s) = %v, want %v", tc.p, tc.from, got, tc.want)
		}
	}
}

func TestPageSize(t *testing.T) {
	for _, tc := range []struct {
		limit int
		want  uint64
	}{{1, 64}, {63, 64}, {100, 101}, {1000, 1001}, {1 << 20, 4096}} {
		if got := pageSize(tc.limit); got != tc.want {
			t.Errorf("pageSize(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

func TestVisible(t *testing.T) {
	tests := []struct {
		prefix, stream, typ string
		want                bool
	}{
		{"", "order-1", "OrderPlaced", true},
		{"", "$stats-0.0.0.0:2113", "$statsCollected", false},
		{"", "$$order-1", "$metadata", false},    // stream metadata
		{"", "$ce-order", "$>", false},           // projection link
		{"", "order-1", "$streamDeleted", false}, // tombstone
		{"", "$users", "UserCreated", false},
		{"t1-", "t1-order-1", "OrderPlaced", true},
		{"t1-", "t2-order-1", "OrderPlaced", false},
		{"t1-", "order-1", "OrderPlaced", false},
	}
	for _, tc := range tests {
		if got := visible(tc.prefix, tc.stream, tc.typ); got != tc.want {
			t.Errorf("visible(%q, %q, %q) = %v, want %v", tc.prefix, tc.stream, tc.typ, got, tc.want)
		}
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	md := eventstore.Metadata{
		CorrelationID: "corr", CausationID: "cause", Actor: "alice", Command: "PlaceOrder",
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceState: "vendor=1",
	}
	b, err := encodeMetadata(2, md)
	if err != nil {
		t.Fatal(err)
	}
	var wire map[string]any
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatalf("metadata is not JSON: %v: %s", err, b)
	}
	want := map[string]any{
		"schema_version": 2.0, "correlation_id": "corr", "causation_id": "cause", "actor": "alice",
		"command": "PlaceOrder", "traceparent": md.TraceParent, "tracestate": "vendor=1",
	}
	if !reflect.DeepEqual(wire, want) {
		t.Errorf("metadata on the wire = %s, want the fields %v", b, want)
	}
	if v, got := decodeMetadata(b); v != 2 || got != md {
		t.Errorf("decode = %d %+v, want 2 %+v", v, got, md)
	}

	b, _ = encodeMetadata(1, eventstore.Metadata{})
	if string(b) != `{"schema_version":1}` {
		t.Errorf("empty metadata encodes as %s, want only the schema version", b)
	}
}

func TestDecodeMetadataTolerance(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		version int
		want    eventstore.Metadata
	}{
		{"none", ``, 1, eventstore.Metadata{}},
		{"not JSON", `garbage`, 1, eventstore.Metadata{}},
		{"not an object", `[1,2]`, 1, eventstore.Metadata{}},
		{"null", `null`, 1, eventstore.Metadata{}},
		{"foreign fields", `{"$correlationId":"c","$causationId":"k","user":"bob"}`, 1,
			eventstore.Metadata{CorrelationID: "c", CausationID: "k"}},
		{"ours win over ESDB's", `{"correlation_id":"ours","$correlationId":"theirs"}`, 1,
			eventstore.Metadata{CorrelationID: "ours"}},
		{"schema version as string", `{"schema_version":"2"}`, 1, eventstore.Metadata{}},
		{"schema version zero", `{"schema_version":0}`, 1, eventstore.Metadata{}},
		{"schema version fractional", `{"schema_version":2.5}`, 1, eventstore.Metadata{}},
		{"fields of the wrong type", `{"schema_version":3,"actor":5,"command":"Pay"}`, 3,
			eventstore.Metadata{Command: "Pay"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			version, md := decodeMetadata([]byte(tc.in))
			if version != tc.version || md != tc.want {
				t.Errorf("decode(%s) = %d %+v, want %d %+v", tc.in, version, md, tc.version, tc.want)
			}
		})
	}
}

func TestProposed(t *testing.T) {
	e := eventstore.EventData{
		ID: uuid.New(), Type: "OrderPaid", SchemaVersion: 3, Data: json.RawMessage(`{"amount":10}`),
		Metadata: eventstore.Metadata{Actor: "alice"},
	}
	got, err := proposed("order-1", []eventstore.EventData{e})
	if err != nil {
		t.Fatal(err)
	}
	want := esdb.EventData{
		EventID: e.ID, EventType: "OrderPaid", ContentType: esdb.ContentTypeJson,
		Data: e.Data, Metadata: []byte(`{"schema_version":3,"actor":"alice"}`),
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("proposed = %+v, want %+v", got[0], want)
	}

	for _, tc := range []struct{ stream, typ string }{{"$order-1", "OrderPaid"}, {"order-1", "$OrderPaid"}} {
		bad := e
		bad.Type = tc.typ
		if _, err := proposed(tc.stream, []eventstore.EventData{bad}); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("proposed(%q, type %q): err = %v, want ErrInvalidEvent", tc.stream, tc.typ, err)
		}
	}
}

func TestRecordedStripsPrefix(t *testing.T) {
	in := &esdb.RecordedEvent{
		EventID: uuid.New(), EventType: "OrderPaid", StreamID: "t1-order-1", EventNumber: 4,
		Position: esdb.Position{Commit: 900, Prepare: 900}, Data: []byte(`{}`),
		UserMetadata: []byte(`{"schema_version":2,"actor":"alice"}`),
	}
	got := recorded("t1-", in)
	if got.StreamID != "order-1" || got.Version != 5 || got.SchemaVersion != 2 || got.Metadata.Actor != "alice" ||
		got.Position != (eventstore.Position{Commit: 900, Prepare: 900}) || got.ID != in.EventID {
		t.Errorf("recorded = %+v", got)
	}
}

func TestNormalizeURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "esdb://localhost:2113?tls=false", want: "esdb://localhost:2113?tls=false"},
		{in: "kurrentdb://admin:changeit@localhost:2113?tls=false", want: "esdb://admin:changeit@localhost:2113?tls=false"},
		{in: "KurrentDB://localhost", want: "esdb://localhost"},
		{in: "kurrent://localhost:2113", want: "esdb://localhost:2113"},
		{in: "kurrentdb+discover://a:2113,b:2113,c:2113", want: "esdb+discover://a:2113,b:2113,c:2113"},
		{in: "esdb+discover://cluster.dns:2113", want: "esdb+discover://cluster.dns:2113"},
		{in: "postgres://localhost", wantErr: true},
		{in: "localhost:2113", wantErr: true},
	}
	for _, tc := range tests {
		got, err := normalizeURL(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err == nil {
			if _, err := esdb.ParseConnectionString(got); err != nil {
				t.Errorf("client does not parse %q: %v", got, err)
			}
		}
	}
}

func TestWithStreamPrefixRefusesSystemPrefix(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "$") {
			t.Errorf("WithStreamPrefix(\"$x\") did not panic with a reason: %v", r)
		}
	}()
	WithStreamPrefix("$x")
}
