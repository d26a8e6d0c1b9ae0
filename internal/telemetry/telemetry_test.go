package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestTracingEnabled(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"exporter otlp", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"exporter console", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none"}, false},
		{"none wins over an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, false},
		{"SDK not disabled", map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := TracingEnabled(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("TracingEnabled = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewTracing(t *testing.T) {
	off, err := NewTracing(t.Context(), "svc", func(string) string { return "" })
	if err != nil || off.Enabled || off.Provider == nil || off.Shutdown(t.Context()) != nil {
		t.Fatalf("off: %+v, %v", off, err)
	}
	// The exporter reads the process environment, as in the services.
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	on, err := NewTracing(t.Context(), "svc", os.Getenv)
	if err != nil || !on.Enabled {
		t.Fatalf("on: %+v, %v", on, err)
	}
	if _, ok := on.Provider.(*sdktrace.TracerProvider); !ok {
		t.Errorf("provider %T, want the SDK's", on.Provider)
	}
	if err := on.Shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestInjectExtract(t *testing.T) {
	const tp, ts = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "congo=t61rcWkgMzE"
	sc := Extract(tp, ts)
	if !sc.IsValid() || !sc.IsRemote() || sc.TraceState().String() != ts {
		t.Fatalf("Extract = %+v", sc)
	}
	gotTP, gotTS := Inject(trace.ContextWithSpanContext(context.Background(), sc))
	if gotTP != tp || gotTS != ts {
		t.Errorf("Inject = %q %q, want %q %q", gotTP, gotTS, tp, ts)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01"} {
		if Extract(bad, "").IsValid() {
			t.Errorf("Extract(%q) is valid", bad)
		}
	}
	if tp, ts := Inject(context.Background()); tp != "" || ts != "" {
		t.Errorf("Inject without a span = %q %q", tp, ts)
	}
}

func TestChildSpansOnly(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	tracer := ChildSpansOnly(sdk).Tracer("test")

	ctx := context.Background()
	got, span := tracer.Start(ctx, "orphan")
	span.End()
	if got != ctx || span.SpanContext().IsValid() || len(spans.Ended()) != 0 {
		t.Errorf("without a parent: a span was made (%d ended)", len(spans.Ended()))
	}

	ctx, parent := sdk.Tracer("test").Start(ctx, "parent")
	_, child := tracer.Start(ctx, "child")
	child.End()
	parent.End()
	ended := spans.Ended()
	if len(ended) != 2 || ended[0].Name() != "child" || ended[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("with a parent: spans %v", ended)
	}
}

func TestLoggerAddsContextIDs(t *testing.T) {
	sc := Extract("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "")
	ctx := WithCorrelationID(trace.ContextWithSpanContext(context.Background(), sc), "corr-1")

	t.Run("json", func(t *testing.T) {
		var buf bytes.Buffer
		log := NewLogger(&buf, LogJSON, slog.LevelInfo).With("service", "test")
		log.InfoContext(ctx, "with context", "n", 1)
		log.Info("without context")
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("lines: %q", lines)
		}
		var with, without map[string]any
		if json.Unmarshal([]byte(lines[0]), &with) != nil || json.Unmarshal([]byte(lines[1]), &without) != nil {
			t.Fatalf("not JSON: %q", lines)
		}
		if with["correlation_id"] != "corr-1" || with["trace_id"] != "0af7651916cd43dd8448eb211c80319c" ||
			with["span_id"] != "b7ad6b7169203331" || with["service"] != "test" {
			t.Errorf("with context: %s", lines[0])
		}
		if without["correlation_id"] != nil || without["trace_id"] != nil {
			t.Errorf("without context: %s", lines[1])
		}
	})
	t.Run("text", func(t *testing.T) {
		var buf bytes.Buffer
		NewLogger(&buf, LogText, slog.LevelInfo).InfoContext(ctx, "hello")
		if !strings.Contains(buf.String(), "correlation_id=corr-1 trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331") {
			t.Errorf("text line: %s", buf.String())
		}
	})
	t.Run("level", func(t *testing.T) {
		var buf bytes.Buffer
		NewLogger(&buf, LogJSON, slog.LevelWarn).InfoContext(ctx, "quiet")
		if buf.Len() != 0 {
			t.Errorf("logged below the level: %s", buf.String())
		}
	})
}

// TestMetricsToken: with a token, /metrics answers only a scrape that carries it; the other requests
// go to the wrapped handler either way, and without a token /metrics is open.
func TestMetricsToken(t *testing.T) {
	reg := prometheus.NewRegistry()
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "tested_total", Help: "A test counter."})
	reg.MustRegister(counter)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	const token = "0123456789abcdef-metrics"
	tests := []struct {
		name, token, path, auth string
		status                  int
	}{
		{"open without a token", "", "/metrics", "", http.StatusOK},
		{"the token", token, "/metrics", "Bearer " + token, http.StatusOK},
		{"no Authorization", token, "/metrics", "", http.StatusUnauthorized},
		{"another token", token, "/metrics", "Bearer 0123456789abcdef-metricz", http.StatusUnauthorized},
		{"the token as Basic", token, "/metrics", "Basic " + token, http.StatusUnauthorized},
		{"a prefix of the token", token, "/metrics", "Bearer " + token[:10], http.StatusUnauthorized},
		{"other paths are the app's", token, "/orders", "", http.StatusTeapot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := WithMetrics(app, reg, slog.New(slog.DiscardHandler), tt.token)
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			body := rec.Body.String()
			switch tt.status {
			case http.StatusOK:
				if !strings.Contains(body, "tested_total") {
					t.Errorf("the metrics page lacks the registry's counter: %s", body)
				}
			case http.StatusUnauthorized:
				if strings.Contains(body, "tested_total") || rec.Header().Get("WWW-Authenticate") == "" ||
					rec.Header().Get("Content-Type") != "application/problem+json" {
					t.Errorf("refusal: %v %s", rec.Header(), body)
				}
			}
		})
	}
}
