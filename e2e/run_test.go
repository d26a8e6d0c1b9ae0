package e2e

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/proctest"
)

// TestMakeRun runs scripts/run.sh (make run) as a person would without a Docker engine: it waits for
// the URLs and tokens the script prints, sends a command with the staff token and reads it back
// through the query API, then presses Ctrl-C (SIGINT) and checks that every process the script
// started has gone and its ports are free.
func TestMakeRun(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Skip("no psql: make run needs the PostgreSQL client and server binaries")
	}
	ports := make([]int, 3)
	for i := range ports {
		ports[i] = freePort(t)
	}
	binDir := filepath.Dir(bins.command)
	proctest.Build(t, binDir, "github.com/orderflow/orderflow/cmd/devtoken")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../scripts/run.sh")
	// Not t.TempDir(): its parent is private to root, and PostgreSQL runs as postgres when we are root.
	dataDir, err := os.MkdirTemp("", "make-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dataDir) })
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "RUN_DOCKER=0", "RUN_DATA_DIR="+dataDir, "RUN_BIN_DIR="+binDir,
		"COMMAND_PORT="+strconv.Itoa(ports[0]), "QUERY_PORT="+strconv.Itoa(ports[1]), "PROJECTOR_PORT="+strconv.Itoa(ports[2]),
		"AUTH=on", "AUTH_HMAC_SECRET="+devSecret)
	// Its own process group, as a terminal would give it; SIGINT goes to the script only, which must
	// stop the rest itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default: // the test failed half-way: stop the script as Ctrl-C would
			_ = cmd.Process.Signal(syscall.SIGINT)
			<-exited
		}
	})

	// Read until the tokens are printed: the staff token and the PIDs are what the test needs.
	var out strings.Builder
	var staffToken string
	var pids []int
	for staffToken == "" {
		line, ok := <-lines
		if !ok {
			<-exited
			t.Fatalf("run.sh ended before it was up:\n%s\nstderr:\n%s", out.String(), stderr.String())
		}
		out.WriteString(line + "\n")
		if f := strings.Fields(line); len(f) == 4 && f[0] == "staff" {
			staffToken = f[3]
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "processes"); ok {
			for _, m := range regexp.MustCompile(`\d+`).FindAllString(rest, -1) {
				pid, _ := strconv.Atoi(m)
				pids = append(pids, pid)
			}
		}
	}
	for _, want := range []string{"command API   http://127.0.0.1:" + strconv.Itoa(ports[0]), "query API     http://127.0.0.1:" + strconv.Itoa(ports[1])} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if len(pids) != 4 {
		t.Fatalf("processes printed: %v, want 3 services and PostgreSQL:\n%s", pids, out.String())
	}

	commandURL, queryURL := "http://127.0.0.1:"+strconv.Itoa(ports[0]), "http://127.0.0.1:"+strconv.Itoa(ports[1])
	id := uuid.NewString()
	res := call(t, "POST", commandURL+"/orders", map[string]any{"order_id": id, "customer_id": "c-run", "currency": "EUR"},
		"Authorization", "Bearer "+staffToken)
	if res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	var w written
	res.decode(t, &w)
	res = call(t, "GET", queryURL+"/orders/"+id, nil, "Authorization", "Bearer "+staffToken, "X-Min-Position", w.Position, "X-Max-Wait-Ms", "5000")
	var o orderView
	if res.status != 200 {
		t.Fatalf("read back: %d %s", res.status, res.body)
	}
	if res.decode(t, &o); o.OrderID != id || o.CustomerID != "c-run" || o.Version != 1 {
		t.Errorf("read back %s", res.body)
	}
	if res := call(t, "GET", queryURL+"/orders/"+id, nil); res.status != 401 {
		t.Errorf("without a token: %d, want 401 (authentication is on)", res.status)
	}

	// Ctrl-C.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	select {
	case <-exited:
		var exit *exec.ExitError
		if waitErr != nil && !errors.As(waitErr, &exit) {
			t.Fatal(waitErr)
		}
	case <-ctx.Done():
		t.Fatal("run.sh did not stop within the test's time")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still runs after Ctrl-C (%v)", pid, err)
		}
	}
	for _, port := range ports {
		if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
			conn.Close()
			t.Errorf("port %d still accepts connections after Ctrl-C", port)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
