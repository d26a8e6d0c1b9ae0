package projections

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/eventstore"
)

// Metrics are the runner's Prometheus metrics, all labelled by projection:
//
//	projector_events_applied_total           counter    log events committed through the projection
//	projector_batch_size                     histogram  events per committed batch
//	projector_batch_duration_seconds         histogram  apply and commit time per batch
//	projector_position{part}                 gauge      checkpoint, part="commit" or "prepare"
//	projector_head_position{part}            gauge      head of the log when last looked at
//	projector_lag_events                     gauge      events between position and head (-1 unknown)
//	projector_lag_seconds                    gauge      age of the oldest event not yet applied
//	projector_errors_total                   counter    failed attempts (batches, reads, start-ups)
//	projector_state{state}                   gauge      1 for the current state, 0 for the others
//	projector_owned                          gauge      1 while this process owns the projection
//	projector_rebuild_events_total           counter    events applied to copies being rebuilt
//
// and two of the runner as a whole, which show how much the projections share their reads of the
// log (see logWindow):
//
//	projector_log_requests_total             counter    reads of the log the live projections asked for
//	projector_log_reads_total                counter    reads of the log sent to the store for them
//
// Progress gauges are reported by the owning process only: a process waiting for the lock deletes
// its own series, so that summing over processes counts each projection once.
type Metrics struct {
	applied    *prometheus.CounterVec
	batchSize  *prometheus.HistogramVec
	batchTime  *prometheus.HistogramVec
	position   *prometheus.GaugeVec
	head       *prometheus.GaugeVec
	lagEvents  *prometheus.GaugeVec
	lagSeconds *prometheus.GaugeVec
	errors     *prometheus.CounterVec
	state      *prometheus.GaugeVec
	owned      *prometheus.GaugeVec
	rebuilt    *prometheus.CounterVec

	logRequests prometheus.Counter
	logReads    prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	by := []string{"projection"}
	m := &Metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "projector_events_applied_total", Help: "Log events committed through the projection, each once.",
		}, by),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "projector_batch_size", Help: "Events per committed batch.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000},
		}, by),
		batchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "projector_batch_duration_seconds", Help: "Time to apply and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, by),
		position: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "projector_position", Help: "The projection's checkpoint: the two parts of the log position.",
		}, []string{"projection", "part"}),
		head: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "projector_head_position", Help: "The head of the log as last seen: the two parts of the position.",
		}, []string{"projection", "part"}),
		lagEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "projector_lag_events", Help: "Events between the checkpoint and the head (capped at 100000; -1: unknown).",
		}, by),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "projector_lag_seconds", Help: "Age of the oldest event not applied yet; 0 when caught up.",
		}, by),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "projector_errors_total", Help: "Failed attempts to apply, read or start the projection.",
		}, by),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "projector_state", Help: "1 for the projection's current state in this process.",
		}, []string{"projection", "state"}),
		owned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "projector_owned", Help: "1 while this process owns the projection.",
		}, by),
		rebuilt: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "projector_rebuild_events_total", Help: "Events applied to copies of the projection being rebuilt.",
		}, by),
		logRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "projector_log_requests_total", Help: "Reads of the log the live projections asked for.",
		}),
		logReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "projector_log_reads_total", Help: "Reads of the log sent to the store for the live projections; the rest were answered from memory or shared.",
		}),
	}
	for _, c := range []prometheus.Collector{m.applied, m.batchSize, m.batchTime, m.position, m.head,
		m.lagEvents, m.lagSeconds, m.errors, m.state, m.owned, m.rebuilt, m.logRequests, m.logReads} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// setState marks s as name's state.
func (m *Metrics) setState(name string, s State) {
	for _, st := range states() {
		v := 0.0
		if st == s {
			v = 1
		}
		m.state.WithLabelValues(name, string(st)).Set(v)
	}
}

func (m *Metrics) setOwned(name string, owned bool) {
	if owned {
		m.owned.WithLabelValues(name).Set(1)
		return
	}
	m.owned.WithLabelValues(name).Set(0)
	for _, part := range []string{"commit", "prepare"} {
		m.position.DeleteLabelValues(name, part)
		m.head.DeleteLabelValues(name, part)
	}
	m.lagEvents.DeleteLabelValues(name)
	m.lagSeconds.DeleteLabelValues(name)
}

func (m *Metrics) setProgress(name string, pos eventstore.Position, p progress) {
	m.position.WithLabelValues(name, "commit").Set(float64(pos.Commit))
	m.position.WithLabelValues(name, "prepare").Set(float64(pos.Prepare))
	m.head.WithLabelValues(name, "commit").Set(float64(p.head.Commit))
	m.head.WithLabelValues(name, "prepare").Set(float64(p.head.Prepare))
	m.lagEvents.WithLabelValues(name).Set(float64(p.lagEvents))
	m.lagSeconds.WithLabelValues(name).Set(p.lagSeconds)
}
