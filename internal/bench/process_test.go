package bench

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serviceEnv makes this test binary, run by StartService, serve /readyz on HTTP_ADDR instead of
// running tests: a stand-in for a service.
const serviceEnv = "BENCH_TEST_SERVICE"

func TestMain(m *testing.M) {
	if os.Getenv(serviceEnv) != "" {
		http.HandleFunc("/readyz", func(http.ResponseWriter, *http.Request) {})
		_ = http.ListenAndServe(os.Getenv("HTTP_ADDR"), nil)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestServiceStopped: once a service has been stopped, it stays stopped to every reader, and the
// CPU meters no longer look for its process (they did: "open /proc/PID/stat: no such file").
func TestServiceStopped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s, err := StartService(ctx, "stand-in", self, filepath.Join(t.TempDir(), "log"), map[string]string{serviceEnv: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Stopped() {
		t.Fatal("stopped before Stop")
	}
	if _, ok := pids([]*Service{s})["stand-in"]; !ok {
		t.Error("a running service is not among the processes a step measures")
	}
	s.Stop()
	for i := range 2 {
		if !s.Stopped() {
			t.Errorf("Stopped() call %d after Stop: false", i+1)
		}
	}
	if pid, ok := pids([]*Service{s})["stand-in"]; ok {
		t.Errorf("the stopped service (PID %d) is still among the processes a step measures", pid)
	}
	stopped := make(chan struct{})
	go func() {
		s.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Error("a second Stop still waits after 5 s")
	}
}
