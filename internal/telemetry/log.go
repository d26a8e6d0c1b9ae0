package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log formats, the values of LOG_FORMAT.
const (
	LogJSON = "json" // one JSON object a line, for log pipelines: the default
	LogText = "text" // slog's key=value lines, for people
)

// ValidLogFormat reports whether format is a LOG_FORMAT value NewLogger accepts.
func ValidLogFormat(format string) bool { return format == LogJSON || format == LogText }

// NewLogger returns a logger writing to w at level and above, as text lines for LogText and as JSON
// otherwise (configuration checks the value with ValidLogFormat). Every line logged with a context
// (the *Context methods, or LogAttrs) carries that context's correlation ID and its span's trace and
// span IDs (see NewContextHandler).
func NewLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == LogText {
		return slog.New(NewContextHandler(slog.NewTextHandler(w, opts)))
	}
	return slog.New(NewContextHandler(slog.NewJSONHandler(w, opts)))
}

type correlationKey struct{}

// WithCorrelationID returns ctx carrying the correlation ID id, for the logs and whatever it causes.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the correlation ID ctx carries, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// NewContextHandler wraps h so that each record gets, from the context it is logged with,
// correlation_id (see WithCorrelationID) and trace_id and span_id of a valid span context, sampled
// or not. A record logged without a context (Info rather than InfoContext) gets nothing: logging
// calls in request and batch paths must use the *Context variants.
func NewContextHandler(h slog.Handler) slog.Handler { return contextHandler{h} }

type contextHandler struct{ next slog.Handler }

func (h contextHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := CorrelationID(ctx); id != "" {
		r.AddAttrs(slog.String("correlation_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.next.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.next.WithGroup(name)}
}
