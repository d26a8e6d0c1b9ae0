package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/proctest"
)

// binary is the projector executable built by TestMain. A package variable because TestMain has no
// other way to hand it to the tests.
var binary string

// TestMain builds the real binary once; the tests run it as a process.
func TestMain(m *testing.M) {
	proctest.Main(m, func(b []string) { binary = b[0] }, "github.com/orderflow/orderflow/cmd/projector")
}

// proc is one running projector process.
type proc struct {
	*proctest.Process
	t *testing.T
}

// start runs the projector with settings (HTTP_ADDR defaults to a free port on 127.0.0.1, timings to
// test values), waits until it listens, and kills it at cleanup if the test did not stop it.
func start(t *testing.T, settings map[string]string) *proc {
	t.Helper()
	all := map[string]string{"POLL_INTERVAL": "100ms"}
	for k, v := range settings {
		all[k] = v
	}
	return &proc{Process: proctest.Start(t, binary, all), t: t}
}

// get fetches path and returns the status and body; headers alternate names and values.
func (p *proc) get(path string, headers ...string) (int, string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metric returns the value of the sample named exactly series (name{labels} as Prometheus writes
// it) in /metrics, and -1 when there is none.
func (p *proc) metric(series string) float64 {
	p.t.Helper()
	status, body := p.get("/metrics")
	if status != http.StatusOK {
		p.t.Fatalf("/metrics: %d", status)
	}
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				p.t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return -1
}
