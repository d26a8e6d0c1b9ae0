package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderflow/orderflow/internal/telemetry"
)

func TestObservedRequests(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(telemetry.NewContextHandler(slog.NewJSONHandler(&logs, nil)))

	e := echo.New()
	e.HTTPErrorHandler = NewErrorHandler(log)
	e.Use(Trace(tp), m.Middleware(), AccessLog(log), RequestMeta())
	var traceParent string
	e.GET("/orders/:id", func(c echo.Context) error {
		traceParent, _ = TraceContext(c)
		if c.Param("id") == "broken" {
			return errors.New("boom")
		}
		return c.NoContent(http.StatusNoContent)
	})

	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, path := range []string{"/orders/1", "/orders/2", "/orders/broken", "/nowhere/at/all"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set(HeaderTraceParent, parent)
		req.Header.Set(HeaderCorrelationID, "corr-"+strings.ReplaceAll(path, "/", "_"))
		e.ServeHTTP(httptest.NewRecorder(), req)
	}

	t.Run("spans are named by route and continue the caller's trace", func(t *testing.T) {
		ended := spans.Ended()
		if len(ended) != 4 {
			t.Fatalf("%d spans, want 4", len(ended))
		}
		for i, want := range []string{"GET /orders/:id", "GET /orders/:id", "GET /orders/:id", "GET unmatched"} {
			s := ended[i]
			if s.Name() != want || s.SpanContext().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" ||
				s.Parent().SpanID().String() != "b7ad6b7169203331" {
				t.Errorf("span %d: %q in trace %s under %s, want %q under the caller's span", i, s.Name(),
					s.SpanContext().TraceID(), s.Parent().SpanID(), want)
			}
		}
		// The handler saw its own span, not the caller's: that is what goes into event metadata.
		want := "00-0af7651916cd43dd8448eb211c80319c-" + ended[2].SpanContext().SpanID().String() + "-01"
		if traceParent != want {
			t.Errorf("TraceContext = %q, want the request span %q", traceParent, want)
		}
	})

	t.Run("metrics count routes, not paths", func(t *testing.T) {
		for _, tt := range []struct {
			route, code string
			want        float64
		}{
			{"/orders/:id", "204", 2},
			{"/orders/:id", "500", 1},
			{unmatchedRoute, "404", 1},
		} {
			if got := testutil.ToFloat64(m.requests.WithLabelValues(tt.route, http.MethodGet, tt.code)); got != tt.want {
				t.Errorf("requests{route=%q,code=%s} = %v, want %v", tt.route, tt.code, got, tt.want)
			}
		}
		if n := testutil.CollectAndCount(m.duration); n != 2 {
			t.Errorf("%d duration series, want 2 (one per route)", n)
		}
	})

	t.Run("every log line carries the correlation and trace IDs", func(t *testing.T) {
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		if len(lines) != 5 { // four access log lines and the 500's
			t.Fatalf("%d log lines, want 5:\n%s", len(lines), logs.String())
		}
		for _, line := range lines {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			if rec["trace_id"] != "0af7651916cd43dd8448eb211c80319c" || rec["span_id"] == nil ||
				!strings.HasPrefix(rec["correlation_id"].(string), "corr-") {
				t.Errorf("line lacks IDs: %s", line)
			}
		}
	})
}
