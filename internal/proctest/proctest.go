// Package proctest runs the platform's binaries as real processes in
// tests: it builds them once, starts them with an explicit environment on a
// free loopback port, learns the port from their "listening" log line, and
// stops them by PID at cleanup.
package proctest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
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

// Main is a TestMain for packages that test binaries, which has no
// testing.TB to report through: it builds each of the main packages pkgs
// (import paths) once into a temporary directory, hands their paths to use
// in the same order, runs the tests, removes the binaries and exits.
func Main(m *testing.M, use func(bins []string), pkgs ...string) {
	os.Exit(runMain(m, use, pkgs))
}

func runMain(m *testing.M, use func([]string), pkgs []string) int {
	dir, err := os.MkdirTemp("", "proctest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bins := make([]string, len(pkgs))
	for i, pkg := range pkgs {
		if bins[i], err = build(dir, pkg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	use(bins)
	return m.Run()
}

// Build compiles the main package pkg (an import path or ./relative path)
// into dir and returns the binary's path. Under -race the binary is built
// with the race detector too, so that a race in a service fails its test.
func Build(tb testing.TB, dir, pkg string) string {
	tb.Helper()
	bin, err := build(dir, pkg)
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

func build(dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// Process is one running binary.
type Process struct {
	tb     testing.TB
	cmd    *exec.Cmd
	URL    string  // http://127.0.0.1:port, once Start has returned
	logs   *buffer // stdout and stderr interleaved
	stdout *buffer
	stderr *buffer
	addr   chan string // the address of the first "listening" log line
	done   chan struct{}
	err    error
}

// Start runs bin with exactly env (plus PATH and Launch's defaults; HTTP_ADDR defaults to
// 127.0.0.1:0), waits until it logs that it is listening, and stops it at
// cleanup if the test has not.
func Start(tb testing.TB, bin string, env map[string]string) *Process {
	tb.Helper()
	all := map[string]string{"HTTP_ADDR": "127.0.0.1:0"}
	for k, v := range env {
		all[k] = v
	}
	p := Launch(tb, bin, all)
	select {
	case a := <-p.addr:
		p.URL = "http://" + a
	case <-p.done:
		tb.Fatalf("%s exited before listening: %v\n%s", bin, p.err, p.logs)
	case <-time.After(60 * time.Second):
		tb.Fatalf("%s did not start listening within 60 s\n%s", bin, p.logs)
	}
	return p
}

// Launch runs bin with args and exactly env (plus PATH, and AUTH=off and
// RATE_LIMIT=off unless env sets them) and returns at once, without waiting
// for it to listen: for runs that are expected to exit, such as a bad
// configuration or a one-off command. It kills the process at
// cleanup if it is still running.
func Launch(tb testing.TB, bin string, env map[string]string, args ...string) *Process {
	tb.Helper()
	p := &Process{tb: tb, logs: &buffer{}, stdout: &buffer{}, stderr: &buffer{},
		addr: make(chan string, 1), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	// The platform's protections (authentication, rate limits) have tests of their own; every other
	// test runs without them unless it sets them.
	for k, v := range map[string]string{"AUTH": "off", "RATE_LIMIT": "off"} {
		if _, set := env[k]; !set {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
	}
	if raceEnabled {
		// A race-enabled binary sleeps 1 s at exit waiting for late reports;
		// a race found still exits 66, which fails Stop.
		p.cmd.Env = append(p.cmd.Env, "GORACE=atexit_sleep_ms=100")
	}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stderr = io.MultiWriter(p.logs, p.stderr)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := append(sc.Bytes(), '\n')
			_, _ = p.logs.Write(line)
			_, _ = p.stdout.Write(line)
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(line, &entry) == nil && entry.Msg == "listening" {
				select {
				case p.addr <- entry.Addr:
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
	return p
}

// WaitOK polls GET path until it answers 200, for up to 10 s: a service
// may listen before it is ready.
func (p *Process) WaitOK(path string) {
	p.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(p.URL + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("%s did not answer 200 within 10s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) {
	p.tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.tb.Fatal(err)
	}
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *Process) Stop() {
	p.tb.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.Wait()
}

// Wait waits up to 30 s for the process to exit, and reports an error if it
// does not exit 0 in time.
func (p *Process) Wait() {
	p.tb.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			p.tb.Errorf("%s exited with %v", p.cmd.Path, p.err)
		}
	case <-time.After(30 * time.Second):
		p.Kill()
		p.tb.Errorf("%s did not exit within 30 s", p.cmd.Path)
	}
}

// ExitCode waits up to 30 s for the process to exit and returns its exit
// status.
func (p *Process) ExitCode() int {
	p.tb.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.tb.Fatalf("%s did not exit within 30 s", p.cmd.Path)
	}
	var exit *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &exit):
		return exit.ExitCode()
	}
	p.tb.Fatalf("%s: %v", p.cmd.Path, p.err)
	return -1
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Logs returns what the process wrote so far, stdout and stderr interleaved.
func (p *Process) Logs() string { return p.logs.String() }

// Stdout returns what the process wrote to stdout so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr returns what the process wrote to stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

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
