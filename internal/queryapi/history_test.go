package queryapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
	"github.com/orderflow/orderflow/internal/resilience"
)

// appendEvents writes an order's events to the event store, one append each (so each has its own
// recorded_at), with the metadata a command would give them, and returns them as recorded.
func (e *env) appendEvents(id uuid.UUID, actor string, events ...eventstore.EventData) []eventstore.RecordedEvent {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, ev := range events {
		ev.ID = uuid.New()
		ev.Metadata = eventstore.Metadata{Actor: actor, CorrelationID: "corr-" + ev.Type, CausationID: "cause-1", Command: "Do" + ev.Type}
		if _, err := e.events.Append(ctx, command.StreamName(id), eventstore.Any(), ev); err != nil {
			e.t.Fatal(err)
		}
	}
	recorded, err := e.events.ReadStream(ctx, command.StreamName(id), 1, 10_000)
	if err != nil {
		e.t.Fatal(err)
	}
	return recorded
}

// eventData encodes domain events as the command side stores them.
func eventData(t *testing.T, events ...domain.Event) []eventstore.EventData {
	t.Helper()
	out := make([]eventstore.EventData, len(events))
	for i, ev := range events {
		typ, v, data, err := domain.MarshalEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = eventstore.EventData{Type: typ, SchemaVersion: v, Data: data}
	}
	return out
}

// sampleOrder writes an order of seven events, the second an ItemAdded stored under schema v1 as an
// older release wrote it, and returns the recorded events.
func (e *env) sampleOrder(id uuid.UUID, actor string) []eventstore.RecordedEvent {
	e.t.Helper()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v1 := eventstore.EventData{Type: domain.EventItemAdded, SchemaVersion: 1,
		Data: json.RawMessage(`{"sku":"A","name":"Alpha","qty":2,"price_cents":1250,"at":"2026-03-01T12:01:00Z"}`)}
	rest := eventData(e.t,
		domain.ItemAdded{SKU: "B", Name: "Beta", Quantity: 1, UnitPriceCents: 500, At: at.Add(2 * time.Minute)},
		domain.ShippingAddressSet{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE", At: at.Add(3 * time.Minute)},
		domain.OrderPlaced{TotalCents: 3000, Currency: "EUR", ItemCount: 3, At: at.Add(4 * time.Minute)},
		domain.OrderPaid{AmountCents: 3000, Currency: "EUR", PaymentReference: "pay-1", At: at.Add(5 * time.Minute)},
		domain.OrderShipped{Carrier: "DHL", TrackingNumber: "T-1", At: at.Add(6 * time.Minute)},
	)
	created := eventData(e.t, domain.OrderCreated{OrderID: id, CustomerID: "cust-1", Currency: "EUR", At: at})
	return e.appendEvents(id, actor, append(append(created, v1), rest...)...)
}

type historyBody struct {
	OrderID         uuid.UUID `json:"order_id"`
	NextFromVersion *uint64   `json:"next_from_version"`
	Next            *string   `json:"next"`
	Events          []struct {
		Version       uint64          `json:"version"`
		Type          string          `json:"type"`
		SchemaVersion int             `json:"schema_version"`
		RecordedAt    time.Time       `json:"recorded_at"`
		Position      string          `json:"position"`
		Data          json.RawMessage `json:"data"`
		Metadata      struct {
			EventID       uuid.UUID `json:"event_id"`
			CorrelationID *string   `json:"correlation_id"`
			CausationID   *string   `json:"causation_id"`
			Actor         *string   `json:"actor"`
			Command       *string   `json:"command"`
		} `json:"metadata"`
		Changes []change `json:"changes"`
	} `json:"events"`
}

func TestOrderHistory(t *testing.T) {
	e := newEnv(t)
	id := uuid.New()
	recorded := e.sampleOrder(id, "alice")

	t.Run("every event, as stored", func(t *testing.T) {
		var got historyBody
		r := e.get("/orders/" + id.String() + "/history")
		r.expect(t, 200, &got)
		if got.OrderID != id || len(got.Events) != len(recorded) || got.NextFromVersion != nil || got.Next != nil || r.header.Get("Link") != "" {
			t.Fatalf("history: %s", r.body)
		}
		for i, ev := range got.Events {
			want := recorded[i]
			md := ev.Metadata
			if ev.Version != want.Version || ev.Type != want.Type || ev.SchemaVersion != want.SchemaVersion ||
				!ev.RecordedAt.Equal(want.RecordedAt) || ev.Position != want.Position.String() || md.EventID != want.ID ||
				*md.Actor != "alice" || *md.CorrelationID != "corr-"+want.Type || *md.CausationID != "cause-1" || *md.Command != "Do"+want.Type {
				t.Errorf("event %d: %+v, want %+v", i, ev, want)
			}
		}
		// The v1 ItemAdded keeps its stored shape and schema version; its changes read it upcast.
		v1 := got.Events[1]
		if v1.SchemaVersion != 1 || !strings.Contains(string(v1.Data), `"qty":2`) ||
			!slices.Contains(v1.Changes, change{"quantity", "2"}) || !slices.Contains(v1.Changes, change{"unit_price_cents", "1250"}) {
			t.Errorf("upcast event: %+v (%s)", v1, v1.Data)
		}
		if got.Events[2].SchemaVersion != 2 || !slices.Contains(got.Events[4].Changes, change{"total_cents", "3000 EUR"}) {
			t.Errorf("current events: %+v", got.Events[2:5])
		}
	})

	t.Run("pages", func(t *testing.T) {
		path := "/orders/" + id.String() + "/history?limit=3"
		var versions []uint64
		for pages := 0; path != ""; pages++ {
			if pages > 3 {
				t.Fatal("too many pages")
			}
			var got historyBody
			r := e.get(path)
			r.expect(t, 200, &got)
			for _, ev := range got.Events {
				versions = append(versions, ev.Version)
			}
			path = ""
			if got.Next != nil {
				path = *got.Next
				if r.header.Get("Link") != "<"+path+`>; rel="next"` || *got.NextFromVersion != got.Events[len(got.Events)-1].Version+1 {
					t.Errorf("next %q, Link %q, from %d", path, r.header.Get("Link"), *got.NextFromVersion)
				}
			}
		}
		if !slices.Equal(versions, []uint64{1, 2, 3, 4, 5, 6, 7}) {
			t.Errorf("versions over the pages: %v", versions)
		}
		// A page that ends exactly at the last event has no next.
		var got historyBody
		e.get("/orders/"+id.String()+"/history?from_version=5&limit=3").expect(t, 200, &got)
		if len(got.Events) != 3 || got.Next != nil {
			t.Errorf("last full page: %d events, next %v", len(got.Events), got.Next)
		}
		// Past the end: no events, not an error.
		e.get("/orders/"+id.String()+"/history?from_version=8").expect(t, 200, &got)
		if len(got.Events) != 0 || got.Next != nil {
			t.Errorf("past the end: %+v", got)
		}
	})

	t.Run("unknown order", func(t *testing.T) {
		e.get("/orders/"+uuid.NewString()+"/history").problem(t, 404, "order-not-found")
	})

	t.Run("invalid", func(t *testing.T) {
		base := "/orders/" + id.String() + "/history"
		for path, fields := range map[string][]string{
			"/orders/42/history":           {"id"},
			base + "?from_version=0":       {"from_version"},
			base + "?from_version=-1":      {"from_version"},
			base + "?from_version=1.5":     {"from_version"},
			base + "?from_version=%2B1":    {"from_version"},
			base + "?limit=0":              {"limit"},
			base + "?limit=1001":           {"limit"},
			base + "?limit=x&limit=2":      {"limit"},
			base + "?cursor=abc":           {"cursor"},
			base + "?min_position=nope":    {"min_position"},
			"/orders/x/history?limit=9999": {"id", "limit"},
		} {
			if got := e.get(path).problem(t, 400, "invalid-request"); !slices.Equal(got, fields) {
				t.Errorf("%s: fields %v, want %v", path, got, fields)
			}
		}
	})
}

// historicalBody is the as-of answer as a client reads it.
type historicalBody struct {
	historicalOrder
	AsOf struct {
		RequestedVersion *uint64    `json:"requested_version"`
		RequestedTime    *time.Time `json:"requested_time"`
		Version          uint64     `json:"version"`
		RecordedAt       time.Time  `json:"recorded_at"`
		Position         string     `json:"position"`
	} `json:"as_of"`
}

// TestOrderAsOf: the order at every version and at every recorded time is exactly the domain's own
// fold of the events up to that point.
func TestOrderAsOf(t *testing.T) {
	e := newEnv(t)
	id := uuid.New()
	recorded := e.sampleOrder(id, "alice")
	base := "/orders/" + id.String()

	// want is the domain's fold of the first n events, as the API renders it.
	want := func(t *testing.T, n int) historicalOrder {
		t.Helper()
		var events []domain.Event
		for _, r := range recorded[:n] {
			ev, err := domain.UnmarshalEvent(r.Type, r.SchemaVersion, r.Data)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, ev)
		}
		o := newHistoricalOrder(domain.Rebuild(events), recorded[n-1], asOf{Version: uint64(n)})
		o.AsOf = historicalMark{}
		return o
	}
	check := func(t *testing.T, path string, n int) {
		t.Helper()
		r := e.get(path)
		var got historicalBody
		r.expect(t, 200, &got)
		mark := got.AsOf
		got.historicalOrder.AsOf = historicalMark{}
		wantJSON, _ := json.Marshal(want(t, n))
		gotJSON, _ := json.Marshal(got.historicalOrder)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s:\n got %s\nwant %s", path, gotJSON, wantJSON)
		}
		last := recorded[n-1]
		if mark.Version != last.Version || !mark.RecordedAt.Equal(last.RecordedAt) || mark.Position != last.Position.String() {
			t.Errorf("%s: as_of %+v, want the event at version %d", path, mark, n)
		}
		if r.header.Get("ETag") != "" || r.header.Get("Cache-Control") != "no-store" ||
			r.header.Get(HeaderMementoDatetime) != last.RecordedAt.UTC().Format(http.TimeFormat) {
			t.Errorf("%s: headers %v", path, r.header)
		}
	}

	for n := 1; n <= len(recorded); n++ {
		check(t, base+"?as_of_version="+strconv.Itoa(n), n)
		check(t, base+"?as_of="+recorded[n-1].RecordedAt.Format(time.RFC3339Nano), n)
	}
	check(t, base+"?as_of=2999-01-01T00:00:00Z", len(recorded))
	// An offset other than Z reads the same instant.
	check(t, base+"?as_of="+strings.ReplaceAll(recorded[2].RecordedAt.In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano), "+", "%2B"), 3)

	var got historicalBody
	e.get(base+"?as_of_version=2").expect(t, 200, &got)
	if got.AsOf.RequestedVersion == nil || *got.AsOf.RequestedVersion != 2 || got.AsOf.RequestedTime != nil ||
		got.Status != "draft" || got.TotalCents != 2500 || len(got.Items) != 1 || got.Items[0].Quantity != 2 {
		t.Errorf("as of version 2 (the upcast ItemAdded): %+v", got)
	}

	t.Run("not there yet", func(t *testing.T) {
		before := recorded[0].RecordedAt.Add(-time.Microsecond).Format(time.RFC3339Nano)
		for _, path := range []string{
			base + "?as_of=" + before,
			base + "?as_of_version=8",
			"/orders/" + uuid.NewString() + "?as_of_version=1",
			"/orders/" + uuid.NewString() + "?as_of=2026-01-01T00:00:00Z",
		} {
			e.get(path).problem(t, 404, "order-not-found")
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for path, fields := range map[string][]string{
			base + "?as_of_version=0":                           {"as_of_version"},
			base + "?as_of_version=-2":                          {"as_of_version"},
			base + "?as_of_version=two":                         {"as_of_version"},
			base + "?as_of_version=99999999999999999999":        {"as_of_version"},
			base + "?as_of=yesterday":                           {"as_of"},
			base + "?as_of=2026-03-01":                          {"as_of"},
			base + "?as_of=2026-03-01T12:00:00":                 {"as_of"},
			base + "?as_of=":                                    {"as_of"},
			base + "?as_of_version=1&as_of=2026-03-01T12:00Z":   {"as_of"},
			base + "?as_of_version=1&as_of_version=2":           {"as_of_version"},
			"/orders/nope?as_of_version=0":                      {"id", "as_of_version"},
			base + "?as_of_version=1&min_position=x":            {"min_position"},
			base + "?as_of_version=1&as_of=2026-03-01T12:00:00": {"as_of"},
		} {
			if got := e.get(path).problem(t, 400, "invalid-request"); !slices.Equal(got, fields) {
				t.Errorf("%s: fields %v, want %v", path, got, fields)
			}
		}
	})
}

// failingStore is an event store that is down, behind an open circuit breaker.
type failingStore struct{ err error }

func (s failingStore) ReadStream(context.Context, string, uint64, int) ([]eventstore.RecordedEvent, error) {
	return nil, s.err
}

// TestEventStoreDown: every read of the store answers 503 with the breaker's Retry-After, the
// timeline included, and says nothing of the cause.
func TestEventStoreDown(t *testing.T) {
	api := New(Config{Events: failingStore{&resilience.OpenError{Wait: 2500 * time.Millisecond}}, Logger: slog.New(slog.DiscardHandler)})
	id := uuid.NewString()
	for _, path := range []string{
		"/orders/" + id + "/history", "/orders/" + id + "/timeline", "/orders/" + id + "?as_of_version=1",
		"/orders/" + id + "?as_of=2026-03-01T00:00:00Z",
	} {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		r.problem(t, 503, "service-unavailable")
		if r.header.Get("Retry-After") != "3" || strings.Contains(string(r.body), "breaker") {
			t.Errorf("%s: Retry-After %q, body %s", path, r.header.Get("Retry-After"), r.body)
		}
	}
}

// TestAuditTrailAccess: the history, the as-of reads and the timeline are an order's, like
// GET /orders/{id}: its customer, staff and admins may read them. The audit log is for admins.
func TestAuditTrailAccess(t *testing.T) {
	e := newEnv(t)
	e.checkpoint(readmodel.ProjectionAuditLog, "1:0", false)
	id := uuid.New()
	e.sampleOrder(id, "alice") // customer cust-1
	owner := &auth.Principal{Subject: "cust-1", Role: auth.Customer}
	other := &auth.Principal{Subject: "cust-2", Role: auth.Customer}
	staff := &auth.Principal{Subject: "clerk", Role: auth.Staff}
	admin := &auth.Principal{Subject: "root", Role: auth.Admin}
	base := "/orders/" + id.String()
	for _, tt := range []struct {
		who  *auth.Principal
		path string
		want int
	}{
		{owner, base + "/history", 200},
		{owner, base + "/history?from_version=3", 200},
		{owner, base + "?as_of_version=2", 200},
		{owner, base + "/timeline", 200},
		{owner, "/audit", 403},
		{other, base + "/history", 403},
		{other, base + "/history?from_version=3", 403},
		{other, base + "/history?from_version=99", 403},
		{other, base + "?as_of_version=2", 403},
		{other, base + "?as_of=2999-01-01T00:00:00Z", 403},
		{other, base + "/timeline", 403},
		{other, "/orders/" + uuid.NewString() + "/history", 404},
		{staff, base + "/history", 200},
		{staff, base + "/timeline", 200},
		{staff, "/audit", 403},
		{admin, "/audit", 200},
		{admin, base + "?as_of_version=1", 200},
	} {
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		req = req.WithContext(auth.WithPrincipal(req.Context(), tt.who))
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s (%s) GET %s: %d, want %d: %s", tt.who.Subject, tt.who.Role, tt.path, rec.Code, tt.want, rec.Body)
		}
	}
}
