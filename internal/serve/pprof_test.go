package serve

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestCheckPprofAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true},
		{"127.0.0.2:0", true},
		{"[::1]:6060", true},
		{"localhost:6060", true},
		{":6060", false}, // every interface
		{"0.0.0.0:6060", false},
		{"10.0.0.1:6060", false},
		{"example.com:6060", false},
		{"127.0.0.1", false},
		{"127.0.0.1:", false},
	} {
		if err := CheckPprofAddr(tc.addr); (err == nil) != tc.ok {
			t.Errorf("CheckPprofAddr(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

// TestPprof serves the profile index on a loopback port of its own and stops.
func TestPprof(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := Pprof(":0", log); err == nil {
		t.Fatal("Pprof on every interface: no error")
	}
	// With port 0 the log line is what names the port picked.
	var logs strings.Builder
	stop, err := Pprof("127.0.0.1:0", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, addr, _ := strings.Cut(logs.String(), "addr=")
	addr = strings.TrimSpace(addr)
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("GET goroutine profile: %d %.100q", resp.StatusCode, body)
	}
}
