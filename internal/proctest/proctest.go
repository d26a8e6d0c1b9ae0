// Package proctest runs the platform's binaries as real processes in
// tests: it builds them once, starts them with an explicit environment on a
// free loopback port, learns the port from their "listening" log line, and
// stops them by PID at cleanup.
package proctest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the main package pkg (an import path or ./relative path)
// into dir and returns the binary's path. Under -race the binary is built
// with the race detector too, so that a race in a service fails its test.
func Build(tb testing.TB, dir, pkg string) string {
	tb.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Process is one running binary.
type Process struct {
	tb   testing.TB
	cmd  *exec.Cmd
	URL  string // http://127.0.0.1:port
	logs *buffer
	done chan struct{}
	err  error
}

// Start runs bin with exactly env (plus PATH; HTTP_ADDR defaults to
// 127.0.0.1:0), waits until it logs that it is listening, and stops it at
// cleanup if the test has not.
func Start(tb testing.TB, bin string, env map[string]string) *Process {
	tb.Helper()
	p := &Process{tb: tb, logs: &buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if raceEnabled {
		// A race-enabled binary sleeps 1 s at exit waiting for late reports;
		// a race found still exits 66, which fails Stop.
		p.cmd.Env = append(p.cmd.Env, "GORACE=atexit_sleep_ms=100")
	}
	if env["HTTP_ADDR"] == "" {
		p.cmd.Env = append(p.cmd.Env, "HTTP_ADDR=127.0.0.1:0")
	}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stderr = p.logs
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = p.logs.Write(append(line, '\n'))
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(line, &entry) == nil && entry.Msg == "listening" {
				select {
				case addr <- entry.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.Kill()
		}
		if tb.Failed() {
			tb.Logf("%s output:\n%s", filepath.Base(bin), p.logs)
		}
	})
	select {
	case a := <-addr:
		p.URL = "http://" + a
	case <-p.done:
		tb.Fatalf("%s exited before listening: %v\n%s", bin, p.err, p.logs)
	case <-time.After(60 * time.Second):
		tb.Fatalf("%s did not start listening within 60 s\n%s", bin, p.logs)
	}
	return p
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *Process) Stop() {
	p.tb.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			p.tb.Errorf("%s exited with %v after SIGTERM", p.cmd.Path, p.err)
		}
	case <-time.After(30 * time.Second):
		p.Kill()
		p.tb.Errorf("%s did not exit within 30 s of SIGTERM", p.cmd.Path)
	}
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Logs returns what the process wrote so far.
func (p *Process) Logs() string { return p.logs.String() }

type buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
