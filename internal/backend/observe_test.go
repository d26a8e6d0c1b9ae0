package backend

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/migrations"
)

func TestOpenObserved(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := migrations.Up(ctx, url, migrations.EventStore()); err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	m, err := NewStoreMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	store, closeStore, err := Open(ctx, url, Options{TracerProvider: tp, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	if _, ok := store.(interface {
		CountEvents(context.Context, eventstore.Position, eventstore.Position, int64) (int64, error)
	}); !ok {
		t.Error("the decorator hides CountEvents, which the projector needs for lag")
	}
	event := func() eventstore.EventData {
		return eventstore.EventData{ID: uuid.New(), Type: "OrderCreated", SchemaVersion: 1, Data: []byte(`{}`)}
	}

	// Without a span of the caller's: measured, not traced.
	if _, err := store.Append(ctx, "order-1", eventstore.NoStream(), event(), event()); err != nil {
		t.Fatal(err)
	}
	if n := len(spans.Ended()); n != 0 {
		t.Errorf("%d spans without a parent, want none", n)
	}

	ctx, parent := tp.Tracer("test").Start(ctx, "request")
	_, err = store.Append(ctx, "order-1", eventstore.NoStream(), event())
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("Append = %v, want a version conflict", err)
	}
	if _, err := store.ReadStream(ctx, "order-2", 1, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("ReadStream = %v", err)
	}
	parent.End()

	byName := map[string]sdktrace.ReadOnlySpan{}
	sql := 0
	for _, s := range spans.Ended() {
		byName[s.Name()] = s
		if s.InstrumentationScope().Name == "github.com/exaring/otelpgx" {
			sql++
		}
	}
	if s := byName["eventstore.append"]; s == nil || s.Status().Code != codes.Error || s.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("append span %v: want an error under the caller's span", s)
	}
	if s := byName["eventstore.read_stream"]; s == nil || s.Status().Code == codes.Error {
		t.Errorf("read_stream span %v: a missing stream is not an error", s)
	}
	if sql == 0 {
		t.Errorf("no SQL spans under the store's: %v", byName)
	}

	for _, tt := range []struct {
		operation, outcome string
		want               float64
	}{
		{"append", "ok", 1},
		{"append", "conflict", 1},
		{"read_stream", "not_found", 1},
	} {
		if got := testutil.ToFloat64(m.calls.WithLabelValues(tt.operation, tt.outcome)); got != tt.want {
			t.Errorf("operations{%s,%s} = %v, want %v", tt.operation, tt.outcome, got, tt.want)
		}
	}
	if got := testutil.ToFloat64(m.appended); got != 2 {
		t.Errorf("appended events = %v, want 2", got)
	}
}
