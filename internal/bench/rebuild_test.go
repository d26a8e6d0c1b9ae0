package bench

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/internal/proctest"
	"github.com/orderflow/orderflow/projections"
)

// TestMeasureRebuild runs the projector binary's rebuild over a small pre-loaded log and reports
// every projection rebuilt from all of it.
func TestMeasureRebuild(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	dir := t.TempDir()
	projector := proctest.Build(t, dir, "github.com/orderflow/orderflow/cmd/projector")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const events = 2_000
	rb, err := measureRebuild(ctx, rebuildRun{DatabaseURL: dbURL, Projector: projector,
		LogPath: filepath.Join(dir, "rebuild.log"), Events: events}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Events < events || rb.LoadEventsPerSec <= 0 || rb.Seconds <= 0 || rb.PeakRSSMiB <= 0 {
		t.Errorf("rebuild %+v", rb)
	}
	var names []string
	for _, p := range rb.Projections {
		names = append(names, p.Name)
		if p.Events != rb.Events || p.EventsPerSec <= 0 {
			t.Errorf("%s: %d events at %v/s, want all %d", p.Name, p.Events, p.EventsPerSec, rb.Events)
		}
	}
	var want []string
	for _, p := range projections.All() {
		want = append(want, p.Name())
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("rebuilt %v, want %v", names, want)
	}
}
