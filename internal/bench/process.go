package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Service is one of the platform's binaries, running as a child process on a loopback port.
type Service struct {
	Name string
	URL  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	log  *os.File
	// exited is closed when the process has exited, with its Wait error in waitErr: a closed
	// channel, unlike a value sent, tells every reader, however many times it asks.
	exited  chan struct{}
	waitErr error
}

// StartService runs bin with env (plus HTTP_ADDR on a free loopback port) and waits until its
// /readyz answers 200. Its output goes to logPath, kept for a look after a failed run.
func StartService(ctx context.Context, name, bin, logPath string, env map[string]string) (*Service, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &Service{Name: name, URL: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, log: logFile, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, time.Minute); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%s: %w (log: %s)", name, err, logPath)
	}
	return s, nil
}

// PID is the service's process ID.
func (s *Service) PID() int { return s.cmd.Process.Pid }

// PeakRSSMiB is the process's peak resident set so far (VmHWM), read while it runs.
func (s *Service) PeakRSSMiB() (float64, error) { return PeakRSSMiB(s.PID()) }

// Stopped reports whether the service has exited.
func (s *Service) Stopped() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the service's PID and waits for it to exit, SIGKILL after 20 s, then closes
// its log. It returns at once for a service that has exited.
func (s *Service) Stop() {
	defer s.log.Close() // a second Close only returns an error
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *Service) waitReady(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("exited before it was ready: %v", s.waitErr)
		case <-ctx.Done():
			return errors.New("not ready in time")
		case <-time.After(100 * time.Millisecond):
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
}

// freePort asks the kernel for a free loopback port. Another process may take it before the service
// binds it; then the service fails to start and the run says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// PeakRSSMiB reads VmHWM, the peak resident set size, of process pid from /proc.
func PeakRSSMiB(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseVmHWM(b)
}

func parseVmHWM(status []byte) (float64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", rest, err)
		}
		return round(kb/1024, 1), nil
	}
	return 0, errors.New("no VmHWM in the process status")
}
