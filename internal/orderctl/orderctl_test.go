package orderctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/memory"
	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/orderctl"
	"github.com/orderflow/orderflow/internal/queryapi"
)

// queryAPI serves the real query API's history over an in-memory event store holding one order, the
// events recorded a second apart from 2026-03-01 12:00 UTC. (The API's PostgreSQL reads have their
// own tests; here the subject is the command line.)
func queryAPI(t *testing.T, id uuid.UUID) string {
	t.Helper()
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	store := memory.New(func() time.Time { clock = clock.Add(time.Second); return clock })
	v1 := eventstore.EventData{Type: domain.EventItemAdded, SchemaVersion: 1,
		Data: json.RawMessage(`{"sku":"A","name":"Alpha","qty":2,"price_cents":1250,"at":"2026-03-01T12:00:00Z"}`)}
	var events []eventstore.EventData
	for _, e := range []domain.Event{
		domain.OrderCreated{OrderID: id, CustomerID: "cust-1", Currency: "EUR"},
		nil, // the v1 ItemAdded
		domain.ShippingAddressSet{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE"},
		domain.OrderPlaced{TotalCents: 2500, Currency: "EUR", ItemCount: 2},
		domain.OrderCancelled{Reason: "changed\tmy mind\n", PreviousStatus: "placed"},
	} {
		if e == nil {
			events = append(events, v1)
			continue
		}
		typ, v, data, err := domain.MarshalEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, eventstore.EventData{Type: typ, SchemaVersion: v, Data: data})
	}
	for i, e := range events {
		e.ID = uuid.New()
		e.Metadata = eventstore.Metadata{CorrelationID: "corr-" + string(rune('a'+i)), Actor: "alice"}
		if i == 4 {
			e.Metadata.Actor = "" // a writer that gave none
		}
		if _, err := store.Append(context.Background(), command.StreamName(id), eventstore.Any(), e); err != nil {
			t.Fatal(err)
		}
	}
	api := queryapi.New(queryapi.Config{Events: store, Logger: slog.New(slog.DiscardHandler)})
	// The API runs without authentication here; a token, when given, must arrive as a bearer token.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" && h != "Bearer t0ken" {
			http.Error(w, "unexpected Authorization "+h, http.StatusUnauthorized)
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func run(args []string, env map[string]string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = orderctl.Run(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

func TestAuditTable(t *testing.T) {
	id := uuid.MustParse("0b9f3c56-6f1e-4c8e-9a57-2d5b6c0f7e21")
	api := queryAPI(t, id)

	code, out, errOut := run([]string{"audit", id.String()}, map[string]string{"QUERY_API_URL": api})
	want := `TIME                      VERSION  EVENT               ACTOR  CORRELATION ID  KEY FIELDS
2026-03-01T12:00:01.000Z  1        OrderCreated        alice  corr-a          customer_id=cust-1 currency=EUR
2026-03-01T12:00:02.000Z  2        ItemAdded           alice  corr-b          sku=A name=Alpha quantity=2 unit_price_cents=1250
2026-03-01T12:00:03.000Z  3        ShippingAddressSet  alice  corr-c          name=Ada address=1 Main St city=10115 Berlin country=DE
2026-03-01T12:00:04.000Z  4        OrderPlaced         alice  corr-d          total_cents=2500 EUR item_count=2
2026-03-01T12:00:05.000Z  5        OrderCancelled      -      corr-e          reason=changed my mind  previous_status=placed
`
	if code != 0 || out != want || errOut != "" {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errOut, out, want)
	}

	// --from-version, and the flag after the order ID; --query-api wins over the environment; a token.
	code, out, _ = run([]string{"audit", id.String(), "--from-version", "4", "--query-api", api},
		map[string]string{"QUERY_API_URL": "http://127.0.0.1:1", "ORDERFLOW_TOKEN": "t0ken"})
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 3 || !strings.Contains(lines[1], "OrderPlaced") {
		t.Errorf("--from-version 4: exit %d:\n%s", code, out)
	}
}

func TestAuditJSON(t *testing.T) {
	id := uuid.New()
	code, out, _ := run([]string{"audit", "--json", "--query-api", queryAPI(t, id), id.String()}, nil)
	var got struct {
		OrderID uuid.UUID        `json:"order_id"`
		Events  []orderctl.Event `json:"events"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if got.OrderID != id || len(got.Events) != 5 || got.Events[1].SchemaVersion != 1 || !strings.Contains(string(got.Events[1].Data), `"qty"`) {
		t.Errorf("%+v", got)
	}
}

func TestAuditFailures(t *testing.T) {
	api := queryAPI(t, uuid.New())
	for _, tt := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{nil, orderctl.ExitUsage, "Usage"},
		{[]string{"frobnicate"}, orderctl.ExitUsage, `unknown command "frobnicate"`},
		{[]string{"audit"}, orderctl.ExitUsage, "exactly one order ID"},
		{[]string{"audit", "42"}, orderctl.ExitUsage, "not an order ID"},
		{[]string{"audit", uuid.NewString(), uuid.NewString()}, orderctl.ExitUsage, "exactly one order ID"},
		{[]string{"audit", uuid.NewString(), "--from-version", "0"}, orderctl.ExitUsage, "--from-version"},
		{[]string{"audit", uuid.NewString(), "--bogus"}, orderctl.ExitUsage, "bogus"},
		{[]string{"audit", uuid.NewString(), "--query-api", "ftp://x"}, orderctl.ExitUsage, "http://"},
		{[]string{"audit", uuid.NewString(), "--query-api", api}, orderctl.ExitFail, "404: Order not found"},
		{[]string{"audit", uuid.NewString(), "--query-api", api, "--token", "wrong"}, orderctl.ExitFail, "401"},
		{[]string{"audit", uuid.NewString(), "--query-api", "http://127.0.0.1:1", "--timeout", "2s"}, orderctl.ExitFail, "query API"},
	} {
		code, out, errOut := run(tt.args, nil)
		if code != tt.code || out != "" || !strings.Contains(errOut, tt.inStderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.args, code, out, errOut, tt.code, tt.inStderr)
		}
	}
}
