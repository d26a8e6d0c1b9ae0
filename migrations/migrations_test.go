package migrations

import (
	"context"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"

	"github.com/orderflow/orderflow/internal/pgtest"
)

// sets returns the sets to test. The event-store files are written separately; until they exist the
// event-store part is skipped, not failed.
func sets(t *testing.T) []Set {
	t.Helper()
	out := []Set{ReadModel()}
	if len(sqlFiles(t, EventStore())) == 0 {
		t.Log("migrations/eventstore has no SQL files yet: event-store set not tested")
	} else {
		out = append(out, EventStore())
	}
	return out
}

func TestUp(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := deadline(t)

	// The read-model set alone, as an EventStoreDB deployment applies it: no event tables.
	if err := Up(ctx, url, ReadModel()); err != nil {
		t.Fatal(err)
	}
	got := tables(t, url)
	for _, want := range []string{"goose_readmodel_version", "projection_checkpoints", "projection_status", "rm_orders"} {
		if !slices.Contains(got, want) {
			t.Errorf("tables after the read-model set = %v, want %s among them", got, want)
		}
	}
	for _, unwanted := range []string{"events", "eventstore_settings", "goose_eventstore_version"} {
		if slices.Contains(got, unwanted) {
			t.Errorf("the read-model set created the event-store table %s", unwanted)
		}
	}

	for _, set := range sets(t) {
		t.Run(set.Name(), func(t *testing.T) {
			if err := Up(ctx, url, set); err != nil {
				t.Fatal(err)
			}
			applied := versions(t, url, set)
			if want := fileVersions(t, set); !slices.Equal(applied, want) {
				t.Fatalf("applied versions %v, want %v", applied, want)
			}
			before := history(t, url, set)
			if err := Up(ctx, url, set); err != nil {
				t.Fatalf("second Up: %v", err)
			}
			if after := history(t, url, set); !slices.Equal(after, before) {
				t.Errorf("second Up changed the version table:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestUpConcurrent starts services together on a fresh database: every Up succeeds, each migration is
// applied exactly once, and the two sets (with different locks) do not get in each other's way.
func TestUpConcurrent(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := deadline(t)
	sets := sets(t)

	const perSet = 8
	errs := make(chan error, perSet*len(sets))
	var wg sync.WaitGroup
	for _, set := range sets {
		for range perSet {
			wg.Go(func() { errs <- Up(ctx, url, set) })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, set := range sets {
		if got, want := versions(t, url, set), fileVersions(t, set); !slices.Equal(got, want) {
			t.Errorf("%s: applied versions %v, want each of %v once", set.Name(), got, want)
		}
	}
}

func TestUpZeroSet(t *testing.T) {
	if err := Up(t.Context(), "postgres://127.0.0.1:1/x", Set{}); err == nil {
		t.Error("Up with a zero Set succeeded")
	}
}

func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func sqlFiles(t *testing.T, set Set) []string {
	t.Helper()
	names, err := fs.Glob(set.fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// fileVersions returns the versions of the set's files, in order.
func fileVersions(t *testing.T, set Set) []int64 {
	t.Helper()
	var out []int64
	for _, name := range sqlFiles(t, set) {
		v, err := goose.NumericComponent(name)
		if err != nil {
			t.Fatalf("%s: %s: %v", set.Name(), name, err)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// versions returns every applied version recorded in the set's table, duplicates included.
func versions(t *testing.T, url string, set Set) []int64 {
	t.Helper()
	return collect[int64](t, url, "SELECT version_id FROM "+pgx.Identifier{set.table}.Sanitize()+
		" WHERE version_id > 0 AND is_applied ORDER BY version_id")
}

// history returns the set's version table as text, to compare it before and after.
func history(t *testing.T, url string, set Set) []string {
	t.Helper()
	return collect[string](t, url, "SELECT format('%s %s %s %s', id, version_id, is_applied, tstamp) FROM "+
		pgx.Identifier{set.table}.Sanitize()+" ORDER BY id")
}

func tables(t *testing.T, url string) []string {
	t.Helper()
	return collect[string](t, url,
		"SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
}

func collect[T any](t *testing.T, url, sql string) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, _ := conn.Query(ctx, sql)
	out, err := pgx.CollectRows(rows, pgx.RowTo[T])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}
