package queryapi

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// Metrics are the query API's Prometheus metrics: httpapi's request metrics and
//
//	queryapi_cache_lookups_total{result}                      counter    single-order reads: hit or miss
//	queryapi_read_your_writes_waits_total{projection,outcome} counter    waits for X-Min-Position:
//	                                                                     reached, timeout (a 503) or
//	                                                                     error (the request ended)
//	queryapi_read_your_writes_wait_seconds{projection}        histogram  time spent waiting
//
// A request whose projection is already at the position does not wait and counts as reached.
type Metrics struct {
	http     *httpapi.Metrics
	cache    *prometheus.CounterVec
	waits    *prometheus.CounterVec
	waitTime *prometheus.HistogramVec
}

// NewMetrics creates the query API's metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	h, err := httpapi.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	m := &Metrics{
		http: h,
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "queryapi_cache_lookups_total", Help: "Single-order reads through the cache, by result: hit or miss.",
		}, []string{"result"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "queryapi_read_your_writes_waits_total", Help: "Waits for a projection to reach X-Min-Position, by outcome.",
		}, []string{"projection", "outcome"}),
		waitTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "queryapi_read_your_writes_wait_seconds", Help: "Time spent waiting for a projection to reach X-Min-Position.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"projection"}),
	}
	for _, c := range []prometheus.Collector{m.cache, m.waits, m.waitTime} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Both results exist from the start, so that a hit ratio is defined before the first miss.
	m.cache.WithLabelValues("hit")
	m.cache.WithLabelValues("miss")
	return m, nil
}

func (m *Metrics) cacheLookup(hit bool) {
	if hit {
		m.cache.WithLabelValues("hit").Inc()
		return
	}
	m.cache.WithLabelValues("miss").Inc()
}

func (m *Metrics) waited(projection string, since time.Time, err error) {
	outcome := "reached"
	switch {
	case errors.Is(err, readmodel.ErrNotReached):
		outcome = "timeout"
	case err != nil:
		outcome = "error"
	}
	m.waits.WithLabelValues(projection, outcome).Inc()
	m.waitTime.WithLabelValues(projection).Observe(time.Since(since).Seconds())
}
