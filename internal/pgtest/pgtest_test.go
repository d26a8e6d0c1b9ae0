package pgtest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestNewDatabase(t *testing.T) {
	admin := serverURL(t) // skips without a server

	var names []string
	t.Run("create", func(t *testing.T) {
		a, b := NewDatabase(t), NewDatabase(t)
		if a == b {
			t.Fatalf("both databases have the connection string %q", a)
		}
		for _, connString := range []string{a, b} {
			var name string
			var relations int
			query(t, connString, `SELECT current_database(),
				(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast'))`, nil, &name, &relations)
			if relations != 0 {
				t.Errorf("database %s has %d relations, want none", name, relations)
			}
			names = append(names, name)
		}
		if names[0] == names[1] {
			t.Fatalf("both connection strings lead to database %s", names[0])
		}
		// What one test creates, the other database does not see.
		exec(t, a, "CREATE TABLE only_in_a (id int)")
		var seen bool
		query(t, b, "SELECT to_regclass('only_in_a') IS NOT NULL", nil, &seen)
		if seen {
			t.Error("table created in one database is visible in the other")
		}
	})

	// The subtest's cleanups have run: both databases must be gone.
	var left int
	query(t, admin, "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", []any{names}, &left)
	if left != 0 {
		t.Errorf("%d of the databases %v still exist after cleanup", left, names)
	}
}

func TestNewPool(t *testing.T) {
	pool := NewPool(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var name string
	if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "t_testnewpool_") {
		t.Errorf("pool is connected to %q, want a database of this test", name)
	}
}

func TestDatabaseName(t *testing.T) {
	valid := regexp.MustCompile(`^t_([a-z0-9]+(_[a-z0-9]+)*_)?[0-9a-f]{16}$`)
	for _, testName := range []string{
		"TestX",
		"TestOrders/Cancel_a_PAID order#01",
		"/",
		strings.Repeat("TestVeryLongName", 10),
	} {
		got := databaseName(testName)
		if len(got) > 63 || !valid.MatchString(got) {
			t.Errorf("databaseName(%q) = %q, want a lower-case identifier of at most 63 bytes", testName, got)
		}
		if databaseName(testName) == got {
			t.Errorf("databaseName(%q) returned %q twice", testName, got)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable", "postgres://u:p@127.0.0.1:5432/t_x?sslmode=disable"},
		{"postgresql://u@h", "postgresql://u@h/t_x"},
		{"host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname=t_x"},
	} {
		got, err := withDatabase(tc.in, "t_x")
		if err != nil || got != tc.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		if cfg, err := pgx.ParseConfig(got); err != nil {
			t.Errorf("pgx cannot parse %q: %v", got, err)
		} else if cfg.Database != "t_x" {
			t.Errorf("pgx reads %q as database %q, want t_x", got, cfg.Database)
		}
	}
}

// query scans the one row sql returns into dest.
func query(t *testing.T, connString, sql string, args []any, dest ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func exec(t *testing.T, connString, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := adminExec(ctx, connString, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
