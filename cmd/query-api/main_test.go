package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the query-api executable built by TestMain. A package variable because TestMain has no
// other way to hand it to the tests.
var binary string

// TestMain builds the real binary once; the tests start it as a process and talk to it over HTTP.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "query-api-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "query-api")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build query-api:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// process is one run of the binary.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit error, once done is closed
	addr   chan string   // the address from the "listening" log line
}

// lockedBuffer collects a process's output.
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

// env is the process environment: only what is given, so that nothing from the test's own
// environment (a DATABASE_URL of CI, say) leaks in.
func env(settings map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	if raceEnabled {
		// A race-enabled binary sleeps 1 s at exit by default, waiting for late race reports; a found
		// race still makes it exit 66, which fails the test.
		out = append(out, "GORACE=atexit_sleep_ms=100")
	}
	for k, v := range settings {
		out = append(out, k+"="+v)
	}
	return out
}

// start runs the binary with settings and stops it (SIGTERM, then SIGKILL after 30 s) at cleanup if
// the test did not wait for it.
func start(t *testing.T, settings map[string]string) *process {
	t.Helper()
	p := &process{t: t, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{}), addr: make(chan string, 1)}
	p.cmd = exec.Command(binary)
	p.cmd.Env = env(settings)
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.stdout.Write([]byte(line + "\n"))
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "listening" {
				p.addr <- entry.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("query-api stdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// serve starts the binary on a free port of 127.0.0.1 and returns its base URL once it is ready:
// /readyz answers 200, so the listener is up too.
func serve(t *testing.T, settings map[string]string) (*process, string) {
	t.Helper()
	settings["HTTP_ADDR"] = "127.0.0.1:0"
	p := start(t, settings)
	var base string
	select {
	case a := <-p.addr:
		base = "http://" + a
	case <-p.done:
		t.Fatalf("query-api exited at start-up: %v", p.err)
	case <-time.After(60 * time.Second):
		t.Fatal("query-api did not listen within 60s")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer 200 within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exit waits up to 30 s for the process to exit and returns its exit code.
func (p *process) exit() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatal("query-api did not exit within 30s")
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	p.t.Fatalf("query-api: %v", p.err)
	return -1
}
