package migrations

import (
	"slices"
	"testing"

	"github.com/orderflow/orderflow/internal/pgtest"
)

// TestUpCommands applies the command-side set on its own, as a command API that keeps its events in
// EventStoreDB does, and again to show that a second Up is a no-op.
func TestUpCommands(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := deadline(t)
	for range 2 {
		if err := Up(ctx, url, Commands()); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"goose_commands_version", "idempotency_keys"}
	if got := tables(t, url); !slices.Equal(got, want) {
		t.Errorf("tables after the commands set = %v, want %v", got, want)
	}
	if got, want := versions(t, url, Commands()), fileVersions(t, Commands()); !slices.Equal(got, want) {
		t.Errorf("applied versions %v, want %v", got, want)
	}
}
