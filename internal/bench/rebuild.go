package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/migrations"
	"github.com/orderflow/orderflow/projections"
)

// rebuildRun is one rebuild measurement.
type rebuildRun struct {
	DatabaseURL string // a fresh database: it gets the event store and the read models
	Projector   string // the projector binary
	LogPath     string // where the projector's output goes
	Events      int    // pre-loaded
}

// measureRebuild pre-loads the events with COPY (ordergen.Preload) and runs `projector rebuild
// --all` on them, as an operator would, with no projector running: the command then carries out
// each projection's rebuild itself, one after the other. Each projection's rate is the one the
// projector recorded, events read over the time from taking the rebuild on to switching to the new
// copy; the peak RSS is the command's, from the kernel's accounting when it exits (ru_maxrss, which
// is VmHWM at exit).
func measureRebuild(ctx context.Context, run rebuildRun, say func(format string, args ...any)) (*Rebuild, error) {
	for _, set := range []migrations.Set{migrations.EventStore(), migrations.ReadModel()} {
		if err := migrations.Up(ctx, run.DatabaseURL, set); err != nil {
			return nil, err
		}
	}
	pool, err := pgxpool.New(ctx, run.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()

	t0 := time.Now()
	loaded, err := ordergen.Preload(ctx, pool, rand.New(rand.NewPCG(1, 2)), run.Events, time.Now().Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	rb := &Rebuild{Events: loaded, LoadEventsPerSec: round(float64(loaded)/time.Since(t0).Seconds(), 0)}
	say("pre-loaded %d events with COPY: %.0f events/s", loaded, rb.LoadEventsPerSec)

	logFile, err := os.Create(run.LogPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, run.Projector, "rebuild", "--all")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+run.DatabaseURL, "LOG_LEVEL=warn", "GOMEMLIMIT="+goMemLimit)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Interrupted, it stops at its next batch, and the database is dropped anyway.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	t0 = time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("projector rebuild --all: %w (log: %s)", err, run.LogPath)
	}
	rb.Seconds = round(time.Since(t0).Seconds(), 1)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rb.PeakRSSMiB = round(float64(ru.Maxrss)/1024, 1) // Linux reports kilobytes
	}

	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reports, err := projections.Reports(callCtx, pool)
	if err != nil {
		return nil, err
	}
	for _, r := range reports {
		if r.RebuildEvents == nil || r.RebuildSeconds == nil {
			return nil, fmt.Errorf("projection %s was not rebuilt (log: %s)", r.Name, run.LogPath)
		}
		rb.Projections = append(rb.Projections, RebuiltProjection{Name: r.Name, Events: *r.RebuildEvents,
			Seconds: round(*r.RebuildSeconds, 2), EventsPerSec: round(float64(*r.RebuildEvents)/max(*r.RebuildSeconds, 1e-3), 0)})
		say("rebuild of %s: %d events in %.1f s, %.0f events/s", r.Name, *r.RebuildEvents, *r.RebuildSeconds, rb.Projections[len(rb.Projections)-1].EventsPerSec)
	}
	if len(rb.Projections) == 0 {
		return nil, errors.New("no projection was rebuilt")
	}
	return rb, nil
}
