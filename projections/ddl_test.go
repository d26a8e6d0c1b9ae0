package projections

import (
	"slices"
	"testing"
)

// TestDDLOrder: drops first, then the renames through temporary names (here two that swap, which
// renaming directly would fail on), then the adds.
func TestDDLOrder(t *testing.T) {
	var d ddl
	d.merge(ddl{
		drops:   []string{"DROP 1"},
		adds:    []string{"ADD 1"},
		renames: []rename{{schema: "s", table: "t", from: "a", to: "b"}},
	})
	d.merge(ddl{
		drops:   []string{"DROP 2"},
		renames: []rename{{schema: "s", table: "t", from: "b", to: "a"}, {schema: "s", from: "i", to: "j"}},
	})
	want := []string{
		"DROP 1",
		"DROP 2",
		`ALTER TABLE "s"."t" RENAME CONSTRAINT "a" TO "orderflow_rename_0"`,
		`ALTER TABLE "s"."t" RENAME CONSTRAINT "b" TO "orderflow_rename_1"`,
		`ALTER INDEX "s"."i" RENAME TO "orderflow_rename_2"`,
		`ALTER TABLE "s"."t" RENAME CONSTRAINT "orderflow_rename_0" TO "b"`,
		`ALTER TABLE "s"."t" RENAME CONSTRAINT "orderflow_rename_1" TO "a"`,
		`ALTER INDEX "s"."orderflow_rename_2" RENAME TO "j"`,
		"ADD 1",
	}
	if got := d.statements(); !slices.Equal(got, want) {
		t.Errorf("statements:\n%q\nwant\n%q", got, want)
	}
}
