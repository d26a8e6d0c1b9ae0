// Package pgtest gives integration tests a fresh, empty PostgreSQL database each, so that tests (and
// test binaries running in parallel under `go test ./...`) never see each other's rows.
//
// The server comes from, in order:
//
//  1. TEST_DATABASE_URL, a connection string to a server where its user may CREATE DATABASE (what
//     `make test` sets when it starts a local server);
//  2. a PostgreSQL container started once per test binary with testcontainers, when a Docker engine
//     answers;
//  3. otherwise the test is skipped, saying how to get a database.
//
// Databases are created from template1 and dropped, with their open connections, when the test ends.
// The server must be PostgreSQL 13 or newer (DROP DATABASE ... WITH (FORCE)).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
)

// EnvURL names the environment variable holding the admin connection string. Reading the environment
// here, below cmd/, is deliberate: this is test set-up, chosen by whoever runs the tests.
const EnvURL = "TEST_DATABASE_URL"

const (
	adminTimeout     = 30 * time.Second
	containerTimeout = 5 * time.Minute // includes pulling the image on a cold machine
	image            = "postgres:16-alpine"
)

// NewDatabase returns the connection string of a fresh, empty database for this test, dropped at
// cleanup. It skips the test when there is no server to use (see the package comment).
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	admin := serverURL(tb)
	name := databaseName(tb.Name())

	ctx, cancel := context.WithTimeout(tb.Context(), adminTimeout)
	defer cancel()
	if err := adminExec(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		// tb.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		// FORCE ends connections the test left open (a leaked pool, a goroutine still running), which
		// would otherwise make the drop fail and the database leak into the shared server.
		if err := adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	u, err := withDatabase(admin, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return u
}

// NewPool returns a pool connected to a fresh database of its own (see [NewDatabase]), closed at
// cleanup before the database is dropped.
func NewPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	connString := NewDatabase(tb)
	ctx, cancel := context.WithTimeout(tb.Context(), adminTimeout)
	defer cancel()
	pool, err := pgxpool.New(ctx, connString)
	if err != nil {
		tb.Fatalf("pgtest: new pool: %v", err)
	}
	// Cleanups run last-in first-out, so the pool closes before NewDatabase's cleanup drops the database.
	tb.Cleanup(pool.Close)
	// pgxpool connects lazily; connect now so that a bad server fails here and not in the test.
	if err := pool.Ping(ctx); err != nil {
		tb.Fatalf("pgtest: ping: %v", err)
	}
	return pool
}

// serverURL returns the admin connection string of the server to create databases in, or skips.
func serverURL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	container.once.Do(func() { container.url, container.err = startContainer() })
	if errors.Is(container.err, errNoDocker) {
		tb.Skip("no database: set TEST_DATABASE_URL or run `make test`, which starts a local PostgreSQL; " +
			"no Docker engine for testcontainers either")
	}
	if container.err != nil {
		tb.Fatalf("pgtest: %v", container.err)
	}
	return container.url
}

var errNoDocker = errors.New("no Docker engine")

// container is the one PostgreSQL container of this test binary. A process-wide container goes against
// "no package-level state", and here that is the better trade: starting PostgreSQL takes seconds and
// every test gets its own database anyway, so sharing the server costs no isolation. Nothing stops it
// explicitly, as no test knows it is the last one: testcontainers' reaper (Ryuk) removes it when the
// test binary exits. With the reaper disabled (TESTCONTAINERS_RYUK_DISABLED) it would outlive the run.
var container struct {
	once sync.Once
	url  string
	err  error
}

func startContainer() (_ string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), containerTimeout)
	defer cancel()
	// testcontainers.SkipIfProviderIsNotHealthy does this check, but it needs a *testing.T, skips with
	// a message that forgets TEST_DATABASE_URL, and has no deadline. Like it, treat a panic from the
	// Docker client as "no Docker".
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errNoDocker, r)
		}
	}()
	provider, err := testcontainers.ProviderDefault.GetProvider()
	if err != nil {
		return "", fmt.Errorf("%w: %v", errNoDocker, err)
	}
	healthErr := provider.Health(ctx)
	_ = provider.Close()
	if healthErr != nil {
		return "", fmt.Errorf("%w: %v", errNoDocker, healthErr)
	}

	ctr, err := postgres.Run(ctx, image,
		postgres.BasicWaitStrategies(),
		// Room for many test binaries' pools at once; durability is pointless for throwaway data.
		testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "max_connections=300"),
	)
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return "", fmt.Errorf("start %s container: %w", image, err)
	}
	u, err := ctr.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return "", fmt.Errorf("container connection string: %w", err)
	}
	return u, nil
}

// adminExec runs one statement on its own connection: CREATE and DROP DATABASE cannot run inside a
// transaction, and a fresh connection keeps no session state between tests.
func adminExec(ctx context.Context, connString, sql string) error {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// databaseName returns "t_<test name prefix>_<16 hex digits>": lower case, at most 63 bytes (the
// identifier limit), readable in pg_database while a test runs, and unique across parallel binaries.
func databaseName(testName string) string {
	var b strings.Builder
	underscore := false
	for _, r := range strings.ToLower(testName) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			underscore = false
		} else if !underscore {
			b.WriteByte('_')
			underscore = true
		}
	}
	prefix := strings.Trim(b.String(), "_")
	if len(prefix) > 40 {
		prefix = strings.TrimRight(prefix[:40], "_")
	}
	random := make([]byte, 8)
	_, _ = rand.Read(random) // never fails (crypto/rand since Go 1.24)
	if prefix == "" {
		return "t_" + hex.EncodeToString(random)
	}
	return "t_" + prefix + "_" + hex.EncodeToString(random)
}

// withDatabase returns connString pointing at database name instead, for both connection string forms
// pgx accepts: URLs and keyword/value pairs.
func withDatabase(connString, name string) (string, error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			// Not wrapped: url.Error quotes the whole URL, password included.
			return "", fmt.Errorf("%s is not a valid URL", EnvURL)
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	// In keyword/value form a later keyword overrides an earlier one; name needs no quoting.
	return connString + " dbname=" + name, nil
}
