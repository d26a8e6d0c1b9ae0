package commandapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/memory"
	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/idempotency"
)

// memoryKeys is a keyStore in memory for handler tests: no expiry, no concurrency guarantees. The real
// one is tested in internal/idempotency and end to end in cmd/command-api.
type memoryKeys struct {
	mu      sync.Mutex
	records map[string]memoryRecord
}

type memoryRecord struct {
	hash []byte
	resp idempotency.Response
}

func (m *memoryKeys) Do(ctx context.Context, key string, hash []byte, run func(context.Context) (idempotency.Response, bool)) (idempotency.Response, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.records[key]; ok {
		if !bytes.Equal(r.hash, hash) {
			return idempotency.Response{}, false, idempotency.ErrKeyReused
		}
		return r.resp, true, nil
	}
	resp, keep := run(ctx)
	if keep {
		m.records[key] = memoryRecord{hash: hash, resp: resp}
	}
	return resp, false, nil
}

type api struct {
	t     *testing.T
	h     http.Handler
	store *memory.Store
}

func newAPI(t *testing.T) *api {
	store := memory.New(nil)
	return &api{t: t, store: store, h: New(Config{
		Commands:    command.NewService(store, command.Options{}),
		Idempotency: &memoryKeys{records: map[string]memoryRecord{}},
		Ready:       map[string]httpapi.Check{"eventstore": func(ctx context.Context) error { _, err := store.Head(ctx); return err }},
		Logger:      slog.New(slog.DiscardHandler),
	})}
}

// call sends a request; headers alternate names and values.
func (a *api) call(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

func (a *api) create() string {
	a.t.Helper()
	rec := a.call("POST", "/orders", `{"customer_id":"c-1","currency":"EUR"}`)
	if rec.Code != http.StatusCreated {
		a.t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var res commandResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		a.t.Fatal(err)
	}
	return res.OrderID
}

func problemOf(t *testing.T, rec *httptest.ResponseRecorder) httpapi.Problem {
	t.Helper()
	var p httpapi.Problem
	if ct := rec.Header().Get("Content-Type"); ct != httpapi.MediaTypeProblem {
		t.Errorf("Content-Type = %q, want problem+json; body %s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("%s: %v", rec.Body, err)
	}
	return p
}

func TestCreateAndAdd(t *testing.T) {
	a := newAPI(t)
	rec := a.call("POST", "/orders", `{"customer_id":"c-1","currency":"EUR"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var res commandResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if rec.Header().Get("Location") != "/orders/"+res.OrderID || rec.Header().Get("ETag") != `"1"` || res.Version != 1 {
		t.Errorf("create: headers %v, body %+v", rec.Header(), res)
	}
	if _, err := eventstore.ParsePosition(res.Position); err != nil {
		t.Errorf("position %q: %v", res.Position, err)
	}

	rec = a.call("POST", "/orders/"+res.OrderID+"/items", `{"sku":"A-1","name":"Widget","quantity":2,"unit_price_cents":250}`)
	if rec.Code != http.StatusOK || rec.Header().Get("ETag") != `"2"` {
		t.Fatalf("add: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = a.call("DELETE", "/orders/"+res.OrderID+"/items/A-1", "")
	if rec.Code != http.StatusOK || rec.Header().Get("ETag") != `"3"` {
		t.Fatalf("remove: %d %s", rec.Code, rec.Body)
	}
}

func TestEscapedSKUInPath(t *testing.T) {
	a := newAPI(t)
	id := a.create()
	if rec := a.call("POST", "/orders/"+id+"/items", `{"sku":"A/1 %","name":"Widget","quantity":1,"unit_price_cents":1}`); rec.Code != 200 {
		t.Fatalf("add: %d %s", rec.Code, rec.Body)
	}
	if rec := a.call("DELETE", "/orders/"+id+"/items/A%2F1%20%25", ""); rec.Code != 200 {
		t.Fatalf("remove an escaped SKU: %d %s", rec.Code, rec.Body)
	}
}

func TestBadRequests(t *testing.T) {
	a := newAPI(t)
	id := a.create()
	tests := []struct {
		name, method, path, body string
		headers                  []string
		wantFields               []string // empty: a whole-body problem
	}{
		{"create: every field", "POST", "/orders", `{"order_id":"nope","customer_id":"","currency":"eur"}`, nil, []string{"order_id", "customer_id", "currency"}},
		{"create: nil order id", "POST", "/orders", `{"order_id":"00000000-0000-0000-0000-000000000000","customer_id":"c","currency":"EUR"}`, nil, []string{"order_id"}},
		{"create: unknown field", "POST", "/orders", `{"customer_id":"c","currency":"EUR","vip":true}`, nil, []string{"vip"}},
		{"create: wrong type", "POST", "/orders", `{"customer_id":7,"currency":"EUR"}`, nil, []string{"customer_id"}},
		{"create: malformed JSON", "POST", "/orders", `{"customer_id":`, nil, nil},
		{"create: not an object", "POST", "/orders", `["c","EUR"]`, nil, nil},
		{"add: missing numbers", "POST", "/orders/" + id + "/items", `{"sku":"A","name":"W"}`, nil, []string{"quantity", "unit_price_cents"}},
		{"add: out of range", "POST", "/orders/" + id + "/items", `{"sku":" A","name":"W","quantity":0,"unit_price_cents":-1}`, nil, []string{"sku", "quantity", "unit_price_cents"}},
		{"add: fraction", "POST", "/orders/" + id + "/items", `{"sku":"A","name":"W","quantity":1.5,"unit_price_cents":1}`, nil, []string{"quantity"}},
		{"address: each field", "PUT", "/orders/" + id + "/shipping-address", `{"name":"","line1":"x","city":"","postal_code":"1","country":"XX"}`, nil, []string{"name", "city", "country"}},
		{"pay: missing amount", "POST", "/orders/" + id + "/payments", `{"payment_reference":"p"}`, nil, []string{"amount_cents"}},
		{"pay: negative", "POST", "/orders/" + id + "/payments", `{"amount_cents":-5,"payment_reference":""}`, nil, []string{"amount_cents", "payment_reference"}},
		{"ship", "POST", "/orders/" + id + "/shipments", `{"carrier":"","tracking_number":""}`, nil, []string{"carrier", "tracking_number"}},
		{"cancel", "POST", "/orders/" + id + "/cancel", `{"reason":""}`, nil, []string{"reason"}},
		{"invalid id", "POST", "/orders/not-a-uuid/place", "", nil, []string{"id"}},
		{"braced id", "POST", "/orders/{" + id + "}/place", "", nil, []string{"id"}},
		{"weak If-Match", "POST", "/orders/" + id + "/place", "", []string{"If-Match", `W/"1"`}, []string{"If-Match"}},
		{"unquoted If-Match", "POST", "/orders/" + id + "/place", "", []string{"If-Match", `1`}, []string{"If-Match"}},
		{"long Idempotency-Key", "POST", "/orders/" + id + "/place", "", []string{"Idempotency-Key", strings.Repeat("k", 256)}, []string{"Idempotency-Key"}},
		{"non-ASCII Idempotency-Key", "POST", "/orders/" + id + "/place", "", []string{"Idempotency-Key", "clé"}, []string{"Idempotency-Key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := a.call(tt.method, tt.path, tt.body, tt.headers...)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
			}
			p := problemOf(t, rec)
			var got []string
			for _, f := range p.Errors {
				if f.Reason == "" {
					t.Errorf("field %s has no reason", f.Field)
				}
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields %v, want %v (%s)", got, tt.wantFields, rec.Body)
			}
			if len(tt.wantFields) == 0 && p.Detail == "" {
				t.Error("whole-body problem without detail")
			}
		})
	}
	if events, _ := a.store.ReadStream(t.Context(), "order-"+id, 1, 100); len(events) != 1 {
		t.Errorf("bad requests wrote events: stream has %d", len(events))
	}
}

func TestHTTPStatuses(t *testing.T) {
	a := newAPI(t)
	id := a.create()
	big := `{"reason":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
	}{
		{"unknown order", "POST", "/orders/" + uuid.NewString() + "/place", "", nil, 404},
		{"unknown path", "GET", "/nope", "", nil, 404},
		{"wrong method", "GET", "/orders/" + id + "/place", "", nil, 405},
		{"wrong method on collection", "DELETE", "/orders", "", nil, 405},
		{"rule", "POST", "/orders/" + id + "/place", "", nil, 409},
		{"stale If-Match", "POST", "/orders/" + id + "/cancel", `{"reason":"r"}`, []string{"If-Match", `"7"`}, 412},
		{"too large", "POST", "/orders/" + id + "/cancel", big, nil, 413},
		{"not JSON", "POST", "/orders/" + id + "/cancel", `reason=r`, []string{"Content-Type", "text/plain"}, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := a.call(tt.method, tt.path, tt.body, tt.headers...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			p := problemOf(t, rec)
			if p.Status != tt.status || !strings.HasPrefix(p.Type, httpapi.ProblemTypeBase) {
				t.Errorf("problem %+v", p)
			}
			switch tt.status {
			case 405:
				if rec.Header().Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			case 409:
				if p.Rule != "no-items" {
					t.Errorf("rule = %q, want no-items", p.Rule)
				}
			case 412:
				if p.CurrentVersion == nil || *p.CurrentVersion != 1 {
					t.Errorf("current_version = %v, want 1", p.CurrentVersion)
				}
			}
		})
	}
}

func TestIdempotentReplay(t *testing.T) {
	a := newAPI(t)
	id := a.create()
	path := "/orders/" + id + "/items"
	body := `{"sku":"A","name":"W","quantity":1,"unit_price_cents":5}`

	first := a.call("POST", path, body, "Idempotency-Key", "k-1")
	again := a.call("POST", path, body, "Idempotency-Key", "k-1")
	if first.Code != 200 || again.Code != 200 || first.Body.String() != again.Body.String() {
		t.Fatalf("first %d %s, repeat %d %s", first.Code, first.Body, again.Code, again.Body)
	}
	if again.Header().Get(HeaderReplayed) != "true" || first.Header().Get(HeaderReplayed) != "" {
		t.Errorf("Idempotent-Replayed: first %q, repeat %q", first.Header().Get(HeaderReplayed), again.Header().Get(HeaderReplayed))
	}
	if again.Header().Get("ETag") != first.Header().Get("ETag") || again.Header().Get("Content-Type") != "application/json" {
		t.Errorf("replayed headers %v, first %v", again.Header(), first.Header())
	}
	if first.Header().Get("X-Correlation-ID") == again.Header().Get("X-Correlation-ID") {
		t.Error("the replay repeats the first request's correlation ID")
	}

	// Error outcomes are replayed too.
	e1 := a.call("POST", "/orders/"+id+"/deliver", "", "Idempotency-Key", "k-2")
	e2 := a.call("POST", "/orders/"+id+"/deliver", "", "Idempotency-Key", "k-2")
	if e1.Code != 409 || e2.Code != 409 || e1.Body.String() != e2.Body.String() || e2.Header().Get("Content-Type") != httpapi.MediaTypeProblem {
		t.Errorf("409 replay: %d %s / %d %s", e1.Code, e1.Body, e2.Code, e2.Body)
	}

	reused := a.call("POST", path, `{"sku":"B","name":"W","quantity":1,"unit_price_cents":5}`, "Idempotency-Key", "k-1")
	if reused.Code != 422 || problemOf(t, reused).Type != httpapi.ProblemTypeBase+"idempotency-key-reused" {
		t.Errorf("reused key: %d %s", reused.Code, reused.Body)
	}
	if events, _ := a.store.ReadStream(t.Context(), "order-"+id, 1, 100); len(events) != 2 {
		t.Errorf("stream has %d events, want 2", len(events))
	}
}

func TestHealth(t *testing.T) {
	a := newAPI(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if rec := a.call("GET", path, ""); rec.Code != 200 {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	down := New(Config{
		Ready:  map[string]httpapi.Check{"eventstore": func(context.Context) error { return eventstore.ErrUnavailable }},
		Logger: slog.New(slog.DiscardHandler),
	})
	rec := httptest.NewRecorder()
	down.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("readyz with the store down: %d %v", rec.Code, rec.Header())
	}
}

func TestRequestDeadline(t *testing.T) {
	var deadline time.Time
	h := New(Config{
		Commands: executorFunc(func(ctx context.Context, _ command.Request) (command.Result, error) {
			deadline, _ = ctx.Deadline()
			return command.Result{OrderID: uuid.New(), Version: 1}, nil
		}),
		RequestTimeout: time.Minute,
		Logger:         slog.New(slog.DiscardHandler),
	})
	req := httptest.NewRequest("POST", "/orders/"+uuid.NewString()+"/place", nil)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if d := time.Until(deadline); d < 50*time.Second || d > time.Minute {
		t.Errorf("command ran with deadline in %s, want about a minute", d)
	}
}

type executorFunc func(context.Context, command.Request) (command.Result, error)

func (f executorFunc) Execute(ctx context.Context, r command.Request) (command.Result, error) {
	return f(ctx, r)
}
