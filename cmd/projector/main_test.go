package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the projector executable built by TestMain. A package variable because TestMain has no
// other way to hand it to the tests.
var binary string

// TestMain builds the real binary once; the tests run it as a process.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "projector-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "projector")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build projector:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running projector process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	logs *lockedBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, once done is closed
}

// lockedBuffer collects a process's output for the test log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is the process environment: only what is given, so that nothing of the test's own environment
// leaks in.
func env(settings map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	if raceEnabled {
		// A race-enabled binary sleeps 1 s at exit by default, waiting for late reports; a race found
		// still makes it exit 66, which fails the test.
		out = append(out, "GORACE=atexit_sleep_ms=100")
	}
	for k, v := range settings {
		out = append(out, k+"="+v)
	}
	return out
}

// start runs the projector with settings (HTTP_ADDR defaults to a free port on 127.0.0.1, timings to
// test values), waits until it listens, and kills it at cleanup if the test did not stop it.
func start(t *testing.T, settings map[string]string) *proc {
	t.Helper()
	all := map[string]string{"HTTP_ADDR": "127.0.0.1:0", "POLL_INTERVAL": "100ms"}
	for k, v := range settings {
		all[k] = v
	}
	p := &proc{t: t, logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary)
	p.cmd.Env = env(all)
	p.cmd.Stderr = p.logs
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The binary logs the address it listens on; with port 0 that is how the test
	// learns the port.
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.logs.Write([]byte(line + "\n"))
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "listening" {
				addr <- entry.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("projector %d output:\n%s", p.cmd.Process.Pid, p.logs.String())
		}
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.done:
		t.Fatalf("projector exited at start-up: %v\n%s", p.err, p.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("projector did not listen within 60s\n%s", p.logs.String())
	}
	return p
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM and checks that the process exits 0 within 30 s.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatal("projector did not exit within 30s of SIGTERM")
	}
	if p.err != nil {
		p.t.Fatalf("projector exited with %v", p.err)
	}
}

// get fetches path and returns the status and body.
func (p *proc) get(path string) (int, string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path, nil)
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
