package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/proctest"
)

// TestAuditTrail writes an order through the command API as two actors and reads its audit trail
// back: the history and the as-of read from the event store through the query API, the timeline
// page, the audit log from the projector's read model, and orderctl's table.
func TestAuditTrail(t *testing.T) {
	p := startPlatform(t)
	id := uuid.NewString()
	var last written
	for _, s := range []struct {
		method, path, actor string
		body                any
	}{
		{"POST", "/orders", "alice", map[string]any{"order_id": id, "customer_id": "cust-9", "currency": "EUR"}},
		{"POST", "/orders/" + id + "/items", "alice", map[string]any{"sku": "A", "name": "Alpha", "quantity": 2, "unit_price_cents": 1250}},
		{"PUT", "/orders/" + id + "/shipping-address", "alice", map[string]any{"name": "Ada", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}},
		{"POST", "/orders/" + id + "/place", "alice", nil},
		{"POST", "/orders/" + id + "/payments", "bob", map[string]any{"amount_cents": 2500, "payment_reference": "pay-9"}},
	} {
		res := call(t, s.method, p.command.URL+s.path, s.body, "X-Actor", s.actor, "X-Correlation-ID", "corr-"+id[:8])
		if res.status/100 != 2 {
			t.Fatalf("%s %s: %d %s", s.method, s.path, res.status, res.body)
		}
		res.decode(t, &last)
	}

	// The history is read from the store: no waiting for the projector.
	var history struct {
		Events []struct {
			Version  uint64 `json:"version"`
			Type     string `json:"type"`
			Metadata struct {
				Actor         string `json:"actor"`
				CorrelationID string `json:"correlation_id"`
				Command       string `json:"command"`
			} `json:"metadata"`
		} `json:"events"`
	}
	res := call(t, "GET", p.queries.URL+"/orders/"+id+"/history", nil)
	if res.status != http.StatusOK {
		t.Fatalf("history: %d %s", res.status, res.body)
	}
	res.decode(t, &history)
	wantTypes := []string{"OrderCreated", "ItemAdded", "ShippingAddressSet", "OrderPlaced", "OrderPaid"}
	if len(history.Events) != len(wantTypes) {
		t.Fatalf("history: %s", res.body)
	}
	for i, e := range history.Events {
		wantActor := map[bool]string{true: "bob", false: "alice"}[i == 4]
		if e.Version != uint64(i+1) || e.Type != wantTypes[i] || e.Metadata.Actor != wantActor ||
			e.Metadata.CorrelationID != "corr-"+id[:8] || e.Metadata.Command == "" {
			t.Errorf("event %d: %+v", i+1, e)
		}
	}

	var asOf struct {
		Status     string `json:"status"`
		TotalCents int64  `json:"total_cents"`
		Version    uint64 `json:"version"`
	}
	res = call(t, "GET", p.queries.URL+"/orders/"+id+"?as_of_version=4", nil)
	res.decode(t, &asOf)
	if res.status != http.StatusOK || asOf.Status != "placed" || asOf.TotalCents != 2500 || asOf.Version != 4 || res.header.Get("Memento-Datetime") == "" {
		t.Errorf("as of version 4: %d %s", res.status, res.body)
	}

	res = call(t, "GET", p.queries.URL+"/orders/"+id+"/timeline", nil)
	if page := string(res.body); res.status != http.StatusOK || strings.Count(page, `class="event"`) != 5 || !strings.Contains(page, "bob") {
		t.Errorf("timeline: %d %s", res.status, res.body)
	}

	// The audit log is a read model: wait for the last write.
	var audit struct {
		Entries []struct {
			Type  string `json:"type"`
			Actor string `json:"actor"`
		} `json:"entries"`
	}
	res = call(t, "GET", p.queries.URL+"/audit?order_id="+id+"&min_position="+last.Position, nil, "X-Max-Wait-Ms", "10000")
	if res.status != http.StatusOK {
		t.Fatalf("audit: %d %s", res.status, res.body)
	}
	res.decode(t, &audit)
	if len(audit.Entries) != 5 || audit.Entries[0].Type != "OrderPaid" || audit.Entries[0].Actor != "bob" || audit.Entries[4].Type != "OrderCreated" {
		t.Errorf("audit log, newest first: %s", res.body)
	}
	res = call(t, "GET", p.queries.URL+"/audit?actor=bob&order_id="+id, nil)
	res.decode(t, &audit)
	if len(audit.Entries) != 1 || audit.Entries[0].Type != "OrderPaid" {
		t.Errorf("bob's entries: %s", res.body)
	}

	ctl := proctest.Launch(t, bins.orderctl, map[string]string{"QUERY_API_URL": p.queries.URL}, "audit", id)
	code := ctl.ExitCode()
	out := ctl.Stdout()
	if code != 0 || strings.Count(out, "\n") != 6 || !strings.Contains(out, "OrderPaid") ||
		!strings.Contains(out, "payment_reference=pay-9") || !strings.Contains(out, "corr-"+id[:8]) {
		t.Errorf("orderctl audit: exit %d:\n%s%s", code, out, ctl.Stderr())
	}
}
