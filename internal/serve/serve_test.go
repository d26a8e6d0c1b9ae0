package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServe serves until the context ends, logs the address it listens on, runs BeforeShutdown while
// still serving, and returns nil after a clean shutdown.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer // written only by Serve's goroutine before done, read after
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })}
	ctx, cancel := context.WithCancel(t.Context())
	servedDuringDrain := make(chan int, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, srv, ln, Options{
			Logger:          slog.New(slog.NewJSONHandler(&logs, nil)),
			LogAttrs:        []any{"role", "test"},
			ShutdownTimeout: 5 * time.Second,
			BeforeShutdown: func() {
				resp, err := http.Get("http://" + ln.Addr().String())
				if err != nil {
					servedDuringDrain <- 0
					return
				}
				resp.Body.Close()
				servedDuringDrain <- resp.StatusCode
			},
		})
	}()
	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the context ended")
	}
	if code := <-servedDuringDrain; code != http.StatusTeapot {
		t.Errorf("during BeforeShutdown the server answered %d, want it still serving", code)
	}
	var first struct{ Msg, Addr, Role string }
	line, _, _ := strings.Cut(logs.String(), "\n")
	if err := json.Unmarshal([]byte(line), &first); err != nil || first.Msg != "listening" ||
		first.Addr != ln.Addr().String() || first.Role != "test" {
		t.Errorf("first log line %q, want listening with the address and attributes", line)
	}
	if !strings.Contains(logs.String(), `"msg":"shutting down"`) {
		t.Errorf("logs %q lack the shutdown", logs.String())
	}
}
