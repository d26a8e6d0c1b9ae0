package commandapi

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/memory"
	"github.com/orderflow/orderflow/internal/command"
)

// observedAPI is newAPI with a span recorder and metrics.
func observedAPI(t *testing.T) (*api, *tracetest.SpanRecorder, *Metrics) {
	spans := tracetest.NewSpanRecorder()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New(nil)
	return &api{t: t, store: store, h: New(Config{
		Commands:       command.NewService(store, command.Options{}),
		Idempotency:    &memoryKeys{records: map[string]memoryRecord{}},
		Logger:         slog.New(slog.DiscardHandler),
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		Metrics:        m,
	})}, spans, m
}

func TestEventsRecordTheRequestSpan(t *testing.T) {
	a, spans, _ := observedAPI(t)
	const caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	rec := a.call("POST", "/orders", `{"customer_id":"c-1","currency":"EUR"}`, "traceparent", caller, "tracestate", "congo=t61rcWkgMzE")
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	ended := spans.Ended()
	if len(ended) != 1 || ended[0].Name() != "POST /orders" {
		t.Fatalf("spans %v, want one for POST /orders", ended)
	}
	events, err := a.store.ReadAll(context.Background(), eventstore.Position{}, 10)
	if err != nil || len(events) != 1 {
		t.Fatalf("events %v, %v", events, err)
	}
	md := events[0].Metadata
	want := "00-0af7651916cd43dd8448eb211c80319c-" + ended[0].SpanContext().SpanID().String() + "-01"
	if md.TraceParent != want || md.TraceState != "congo=t61rcWkgMzE" {
		t.Errorf("metadata trace context %q %q, want the request span's %q", md.TraceParent, md.TraceState, want)
	}
}

func TestCommandsByOutcome(t *testing.T) {
	a, _, m := observedAPI(t)
	id := a.create()
	for _, c := range []struct {
		method, path, body string
		headers            []string
		status             int
	}{
		{"POST", "/orders", `{"customer_id":"c-1","currency":"EUR"}`, []string{"Idempotency-Key", "k-1"}, 201},
		{"POST", "/orders", `{"customer_id":"c-1","currency":"EUR"}`, []string{"Idempotency-Key", "k-1"}, 201},
		{"POST", "/orders", `{"customer_id":"","currency":"EUR"}`, nil, 400},
		{"POST", "/orders/" + id + "/place", "", nil, 409},
		{"POST", "/orders/" + id + "/cancel", `{"reason":"r"}`, []string{"If-Match", `"7"`}, 412},
	} {
		if rec := a.call(c.method, c.path, c.body, c.headers...); rec.Code != c.status {
			t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, rec.Code, rec.Body, c.status)
		}
	}
	for _, tt := range []struct {
		command, outcome string
		want             float64
	}{
		{"CreateOrder", "accepted", 2},
		{"CreateOrder", "replayed", 1},
		{"CreateOrder", "invalid", 1},
		{"PlaceOrder", "rejected", 1},
		{"CancelOrder", "conflict", 1},
	} {
		if got := testutil.ToFloat64(m.commands.WithLabelValues(tt.command, tt.outcome)); got != tt.want {
			t.Errorf("commands_total{command=%s,outcome=%s} = %v, want %v", tt.command, tt.outcome, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.commands); n != 5 {
		t.Errorf("%d command series, want 5", n)
	}
}
