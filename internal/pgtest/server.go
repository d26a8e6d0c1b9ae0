package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	osexec "os/exec" // the package's tests have an exec of their own
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Server is a private PostgreSQL server that a test starts, stops and restarts itself, for failure
// tests that [NewDatabase]'s shared server cannot serve. It runs from the machine's own binaries
// (/usr/lib/postgresql/*/bin, as scripts/pg-local.sh does) on 127.0.0.1 and a free port, with its data
// in a temporary directory; as root it runs as the postgres user, which initdb requires.
//
// pg_ctl starts it in the background and stops it through the postmaster.pid of its own data
// directory, so a test only ever signals its own server. Cleanup stops it.
type Server struct {
	tb      testing.TB
	bindir  string
	data    string
	log     string
	port    int
	options string
	owner   *user.User // nil: the current user
}

// StartServer initializes and starts a private server, or skips the test when no PostgreSQL binaries
// are installed.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	bindir, err := binDir()
	if err != nil {
		tb.Skipf("pgtest: no PostgreSQL binaries for a private server: %v", err)
	}
	// Not tb.TempDir(): its parent is private to root, and the server runs as postgres.
	dir, err := os.MkdirTemp("", "pgtest-server-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) }) // after the server's stop, registered below
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, bindir: bindir, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "server.log")}
	sock := filepath.Join(dir, "sock")
	for _, d := range []string{s.data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		if s.owner, err = user.Lookup("postgres"); err != nil {
			tb.Skipf("pgtest: running as root and no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(s.owner.Uid)
		gid, _ := strconv.Atoi(s.owner.Gid)
		for _, p := range []string{dir, s.data, sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if s.port, err = freePort(); err != nil {
		tb.Fatal(err)
	}
	s.options = fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
		s.port, sock)
	if out, err := s.run("initdb", "-D", s.data, "--auth=trust", "-U", "postgres", "--encoding=UTF8",
		"--locale=C.UTF-8", "--no-sync"); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	tb.Cleanup(func() {
		// Immediate: the test is over, nothing needs a clean shutdown.
		_, _ = s.run("pg_ctl", "-D", s.data, "-m", "immediate", "-w", "-t", "30", "stop")
	})
	s.Start()
	return s
}

// URL is the connection string of the server's postgres database, as its superuser.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start starts the server on its port and waits until it accepts connections.
func (s *Server) Start() {
	s.tb.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data, "-l", s.log, "-o", s.options, "-w", "-t", "60", "start"); err != nil {
		logs, _ := os.ReadFile(s.log)
		s.tb.Fatalf("pgtest: start server: %v\n%s\n%s", err, out, logs)
	}
}

// Stop shuts the server down fast: it aborts open transactions and closes every connection, as a
// crash or a restart by an operator would.
func (s *Server) Stop() {
	s.tb.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		s.tb.Fatalf("pgtest: stop server: %v\n%s", err, out)
	}
}

// run runs one of the server's binaries as the server's owner and returns its output.
func (s *Server) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(s.bindir, name)
	var cmd *osexec.Cmd
	if s.owner != nil {
		cmd = osexec.CommandContext(ctx, "runuser", append([]string{"-u", s.owner.Username, "--", bin}, args...)...)
	} else {
		cmd = osexec.CommandContext(ctx, bin, args...)
	}
	// pg_ctl's server keeps the output pipes open; the log file holds its output instead.
	cmd.Stdin = nil
	return cmd.CombinedOutput()
}

// binDir returns the newest /usr/lib/postgresql/*/bin holding the binaries a server needs.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		ok := true
		for _, bin := range []string{"initdb", "pg_ctl", "postgres"} {
			if _, err := os.Stat(filepath.Join(d, bin)); err != nil {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", errors.New("none in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process may take it before the
// server binds it; on this loopback-only test machine that is rare enough.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
