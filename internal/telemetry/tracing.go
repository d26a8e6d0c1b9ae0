// Package telemetry sets up what the three services share for observability: an OpenTelemetry
// tracer provider configured by the standard OTEL_* variables, W3C trace-context propagation (also
// into and out of event metadata), and structured logs that carry each line's correlation and trace
// IDs.
//
// Tracing is off unless asked for, so that a service without a collector neither dials one nor
// logs export errors. It is on when any of these is set:
//
//	OTEL_TRACES_EXPORTER                 otlp, console or none (as in the OpenTelemetry spec)
//	OTEL_EXPORTER_OTLP_ENDPOINT          implies otlp when OTEL_TRACES_EXPORTER is unset
//	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   likewise
//
// and OTEL_SDK_DISABLED is not "true". The exporter, its protocol, endpoint and headers, the sampler
// (OTEL_TRACES_SAMPLER) and the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) are then read
// by the OpenTelemetry SDK itself, from the process environment.
//
// Off, the provider is a no-op one: spans cost next to nothing, yet a caller's traceparent still
// passes through requests into event metadata, because a no-op span carries its parent's context.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the spans this module makes itself.
const ScopeName = "github.com/orderflow/orderflow"

// TracingEnabled reports whether the environment, read through getenv, asks for traces (see the
// package documentation for the rule).
func TracingEnabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))
	if exporter != "" {
		return exporter != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracing is a tracer provider with its shutdown.
type Tracing struct {
	Provider trace.TracerProvider
	// Enabled is false for the no-op provider: instrumentation that costs even then can be left out.
	Enabled bool
	// Shutdown flushes the spans not exported yet and stops the exporter, within ctx's deadline.
	Shutdown func(ctx context.Context) error
}

// Stop shuts the provider down within timeout, logging a failure: at exit there is nothing else to
// do about spans that could not be sent.
func (t Tracing) Stop(timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		log.Warn("flush traces", "error", err.Error())
	}
}

// NewTracing returns the tracer provider the environment asks for: a no-op one when tracing is off
// (see TracingEnabled), otherwise an SDK provider that batches spans to the exporter
// OTEL_TRACES_EXPORTER names. service is the default service.name, which OTEL_SERVICE_NAME overrides.
func NewTracing(ctx context.Context, service string, getenv func(string) string) (Tracing, error) {
	if !TracingEnabled(getenv) {
		return Tracing{Provider: noop.NewTracerProvider(), Shutdown: func(context.Context) error { return nil }}, nil
	}
	exporter, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return Tracing{}, fmt.Errorf("trace exporter: %w", err)
	}
	// Later detectors win: the environment's service.name over ours.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service)),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return Tracing{}, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return Tracing{Provider: tp, Enabled: true, Shutdown: tp.Shutdown}, nil
}

// Propagator is the propagation format of every hop: W3C Trace Context, as in HTTP headers and
// event metadata. Baggage is not carried: nothing here reads it.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Inject returns ctx's span context as W3C traceparent and tracestate values, "" when ctx has no
// valid span context.
func Inject(ctx context.Context) (traceparent, tracestate string) {
	carrier := propagation.MapCarrier{}
	Propagator().Inject(ctx, carrier)
	return carrier["traceparent"], carrier["tracestate"]
}

// Extract parses W3C traceparent and tracestate values into a remote span context; it is invalid
// when traceparent is empty or malformed.
func Extract(traceparent, tracestate string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{"traceparent": traceparent}
	if tracestate != "" {
		carrier["tracestate"] = tracestate
	}
	return trace.SpanContextFromContext(Propagator().Extract(context.Background(), carrier))
}

// ChildSpansOnly returns a provider whose tracers start spans only under an existing span, and
// otherwise return ctx as it is with a no-op span. Stores and database drivers get it: their calls
// belong in the trace of the request or batch that made them, while the idle polls of the projector
// and background clean-ups, as root spans of their own, would bury those traces in noise.
func ChildSpansOnly(tp trace.TracerProvider) trace.TracerProvider { return childOnlyProvider{tp: tp} }

type childOnlyProvider struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (p childOnlyProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{tracer: p.tp.Tracer(name, opts...)}
}

type childOnlyTracer struct {
	embedded.Tracer
	tracer trace.Tracer
}

func (t childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.tracer.Start(ctx, name, opts...)
}
