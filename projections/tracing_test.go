package projections_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/commandapi"
	"github.com/orderflow/orderflow/projections"
)

// TestProjectorSpanLinksToCommand follows one command through the trace context in event metadata:
// the projector's span for the batch holding its event links to the command API's span for the
// request that wrote it. In process, with an in-memory span recorder.
func TestProjectorSpanLinksToCommand(t *testing.T) {
	e := newEnv(t)
	ctx := timeout(t, time.Minute)
	store, pool := e.store, e.pool
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	api := commandapi.New(commandapi.Config{Commands: command.NewService(store, command.Options{}), TracerProvider: tp})
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"customer_id":"c-1","currency":"EUR"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create order: %d %s", rec.Code, rec.Body)
	}
	request := find(spans, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "POST /orders" })
	if request == nil {
		t.Fatal("no span for the request")
	}

	runner, err := projections.NewRunner(projections.Config{
		Store: store, DB: pool, Projections: projections.All(), Owner: "trace-test",
		TracerProvider: tp, PollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(runCtx) }()
	defer func() { stop(); <-done }()

	want := request.SpanContext()
	deadline := time.Now().Add(20 * time.Second)
	for _, name := range allNames() {
		for {
			batch := find(spans, func(s sdktrace.ReadOnlySpan) bool {
				return s.Name() == "projection "+name+" batch" && linksTo(s, want)
			})
			if batch != nil {
				if batch.SpanContext().TraceID() == want.TraceID() {
					t.Errorf("%s: the batch span is in the command's trace; it should start its own and link", name)
				}
				break
			}
			if time.Now().After(deadline) {
				for _, s := range spans.Ended() {
					t.Logf("span %q links %v", s.Name(), s.Links())
				}
				t.Fatalf("no %s batch span links to the request's span %s/%s", name, want.TraceID(), want.SpanID())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func find(spans *tracetest.SpanRecorder, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	for _, s := range spans.Ended() {
		if match(s) {
			return s
		}
	}
	return nil
}

func linksTo(s sdktrace.ReadOnlySpan, sc trace.SpanContext) bool {
	for _, l := range s.Links() {
		if l.SpanContext.TraceID() == sc.TraceID() && l.SpanContext.SpanID() == sc.SpanID() {
			return true
		}
	}
	return false
}
