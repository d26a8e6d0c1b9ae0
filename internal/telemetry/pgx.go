package telemetry

import (
	"github.com/exaring/otelpgx"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// PgxTracer returns the tracer of the services' PostgreSQL pools (pgxpool.Config.ConnConfig.Tracer):
// a span per query, batch and prepare, under the caller's span only (ChildSpansOnly), named after
// the SQL operation, with the statement but not its arguments, which hold customers' data.
// Connection acquisition gets no span, and otelpgx's own metrics are off: pool figures are
// Prometheus's business.
func PgxTracer(tp trace.TracerProvider) *otelpgx.Tracer {
	return otelpgx.NewTracer(
		otelpgx.WithTracerProvider(ChildSpansOnly(tp)),
		otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelpgx.WithDisableAcquireTracer(),
	)
}
