package backend

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/telemetry"
)

// StoreMetrics are the event store's Prometheus metrics, whatever the backend:
//
//	eventstore_operations_total{operation,outcome}     counter    calls by outcome: ok, conflict
//	                                                              (a version conflict on append),
//	                                                              not_found (ReadStream of no stream)
//	                                                              or error
//	eventstore_appended_events_total                   counter    events written by successful appends
//	eventstore_operation_duration_seconds{operation}   histogram  time per call
//
// operation is append, read_stream, read_all or head.
type StoreMetrics struct {
	calls    *prometheus.CounterVec
	appended prometheus.Counter
	duration *prometheus.HistogramVec
}

// NewStoreMetrics creates the event store's metrics and registers them on reg.
func NewStoreMetrics(reg prometheus.Registerer) (*StoreMetrics, error) {
	m := &StoreMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_operations_total", Help: "Event store calls, by operation and outcome.",
		}, []string{"operation", "outcome"}),
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventstore_appended_events_total", Help: "Events written by successful appends.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventstore_operation_duration_seconds", Help: "Time per event store call, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"operation"}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.appended, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observed is a Store that traces and measures every call of the one it wraps: the one place where
// store spans and metrics are made, the same for every backend. Spans are made only under a span of
// the caller (telemetry.ChildSpansOnly), so that the projector's idle polls do not each start a trace.
type observed struct {
	store   eventstore.Store
	tracer  trace.Tracer
	m       *StoreMetrics
	backend string
}

// observedCounter is observed over a store that can count events, which the projector uses for lag.
type observedCounter struct {
	observed
	counter interface {
		CountEvents(ctx context.Context, after, upTo eventstore.Position, limit int64) (int64, error)
	}
}

func (s observedCounter) CountEvents(ctx context.Context, after, upTo eventstore.Position, limit int64) (int64, error) {
	return s.counter.CountEvents(ctx, after, upTo, limit)
}

// observe wraps store; nil tp or m leave out traces or metrics.
func observe(store eventstore.Store, kind Kind, tp trace.TracerProvider, m *StoreMetrics) eventstore.Store {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	tracer := telemetry.ChildSpansOnly(tp).Tracer(telemetry.ScopeName + "/eventstore")
	o := observed{store: store, tracer: tracer, m: m, backend: kind.String()}
	if c, ok := store.(interface {
		CountEvents(ctx context.Context, after, upTo eventstore.Position, limit int64) (int64, error)
	}); ok {
		return observedCounter{observed: o, counter: c}
	}
	return o
}

func (s observed) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	ctx, done := s.start(ctx, "append", attribute.String("eventstore.stream", stream),
		attribute.String("eventstore.expected_version", expected.String()), attribute.Int("eventstore.events", len(events)))
	res, err := s.store.Append(ctx, stream, expected, events...)
	if err == nil && s.m != nil {
		s.m.appended.Add(float64(len(events)))
	}
	done(err)
	return res, err
}

func (s observed) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	ctx, done := s.start(ctx, "read_stream", attribute.String("eventstore.stream", stream))
	events, err := s.store.ReadStream(ctx, stream, from, max)
	done(err)
	return events, err
}

func (s observed) ReadAll(ctx context.Context, from eventstore.Position, max int) ([]eventstore.RecordedEvent, error) {
	ctx, done := s.start(ctx, "read_all", attribute.String("eventstore.from", from.String()))
	events, err := s.store.ReadAll(ctx, from, max)
	done(err)
	return events, err
}

func (s observed) Head(ctx context.Context) (eventstore.Position, error) {
	ctx, done := s.start(ctx, "head")
	pos, err := s.store.Head(ctx)
	done(err)
	return pos, err
}

// start begins the span and the timing of operation; done ends both with the call's error.
func (s observed) start(ctx context.Context, operation string, attrs ...attribute.KeyValue) (context.Context, func(error)) {
	ctx, span := s.tracer.Start(ctx, "eventstore."+operation, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(attrs, attribute.String("eventstore.backend", s.backend))...))
	began := time.Now()
	return ctx, func(err error) {
		outcome := "ok"
		switch {
		case err == nil:
		case errors.Is(err, eventstore.ErrWrongExpectedVersion):
			outcome = "conflict"
		case errors.Is(err, eventstore.ErrStreamNotFound):
			outcome = "not_found" // how a new order's stream looks: not a failure
		default:
			outcome = "error"
		}
		if outcome == "conflict" || outcome == "error" {
			span.RecordError(err)
			span.SetStatus(codes.Error, outcome)
		}
		span.SetAttributes(attribute.String("eventstore.outcome", outcome))
		span.End()
		if s.m != nil {
			s.m.calls.WithLabelValues(operation, outcome).Inc()
			s.m.duration.WithLabelValues(operation).Observe(time.Since(began).Seconds())
		}
	}
}
