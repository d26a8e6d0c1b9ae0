package queryapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
	"github.com/orderflow/orderflow/internal/telemetry"
)

func TestMetricsAfterTraffic(t *testing.T) {
	e := newEnv(t)
	e.checkpoint(readmodel.ProjectionOrders, "10:0", false)
	path := "/orders/" + e.insertOrder(orderRow{version: 1, position: "10:0"}).String()

	for _, c := range []struct {
		headers []string
		status  int
	}{
		{nil, 200}, // a miss
		{nil, 200}, // a hit
		{[]string{HeaderMinPosition, "10:0"}, 200},                      // reached at once, and a hit
		{[]string{HeaderMinPosition, "11:0", HeaderMaxWait, "20"}, 503}, // timed out
	} {
		if r := e.get(path, c.headers...); r.status != c.status {
			t.Fatalf("%v: %d %s, want %d", c.headers, r.status, r.body, c.status)
		}
	}

	rec := httptest.NewRecorder()
	telemetry.MetricsHandler(e.metrics, slog.New(slog.DiscardHandler), "").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`queryapi_cache_lookups_total{result="hit"} 2`,
		`queryapi_cache_lookups_total{result="miss"} 1`,
		`queryapi_read_your_writes_waits_total{outcome="reached",projection="orders"} 1`,
		`queryapi_read_your_writes_waits_total{outcome="timeout",projection="orders"} 1`,
		`queryapi_read_your_writes_wait_seconds_count{projection="orders"} 2`,
		`http_requests_total{code="200",method="GET",route="/orders/:id"} 3`,
		`http_requests_total{code="503",method="GET",route="/orders/:id"} 1`,
		`http_request_duration_seconds_count{method="GET",route="/orders/:id"} 4`,
	} {
		if !strings.Contains(rec.Body.String(), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", rec.Body)
	}
}
