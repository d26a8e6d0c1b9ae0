package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/backend"
	"github.com/orderflow/orderflow/migrations"
	"github.com/orderflow/orderflow/projections"
)

// The administrative commands: status and rebuild. They read the same configuration as the daemon
// and talk to the same databases.

const (
	// watchEvery paces the progress display.
	watchEvery = 200 * time.Millisecond
	// takeOverEvery is how often `projector rebuild` checks whether any projector owns the projection
	// (and carries the rebuild out itself if none does).
	takeOverEvery = time.Second
	// logEvery paces the progress lines written when the output is not a terminal.
	logEvery = 3 * time.Second
)

// splitArgs separates flags from positional arguments, so that flags may follow names
// ("projector rebuild orders --keep-old"), which the flag package alone does not allow.
func splitArgs(args []string) (flags, names []string) {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
		} else {
			names = append(names, a)
		}
	}
	return flags, names
}

// env is what the commands need: the read-model database, the event store and the configuration.
type env struct {
	cfg   config
	pool  *pgxpool.Pool
	store eventstore.LogReader
	close func()
}

// open reads the configuration and connects. Its error is an exit status with the message printed.
func open(ctx context.Context, stderr io.Writer, withStore bool) (*env, int) {
	hostname, _ := os.Hostname()
	cfg, err := loadConfig(os.Getenv, hostname, os.Getpid())
	if err != nil {
		fmt.Fprintln(stderr, "projector: invalid configuration: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		return nil, 2
	}
	fail := func(err error) (*env, int) {
		fmt.Fprintln(stderr, "projector:", err)
		return nil, 1
	}
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	// The rebuild's tables may be newer than the running projectors'.
	if err := migrations.Up(ctx, cfg.DatabaseURL, migrations.ReadModel()); err != nil {
		return fail(err)
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fail(fmt.Errorf("database: %w", err))
	}
	e := &env{cfg: cfg, pool: pool, close: pool.Close}
	if withStore {
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		store, closeStore, err := backend.Open(ctx, cfg.EventStoreURL, backend.Options{Logger: log, Timeout: cfg.StoreTimeout})
		if err != nil {
			pool.Close()
			return fail(fmt.Errorf("open event store: %w", err))
		}
		e.store, e.close = store, func() { closeStore(); pool.Close() }
	}
	return e, 0
}

// statusCommand prints every projection's state, position, lag and rebuild.
func statusCommand(args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: projector status [--json]")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	e, code := open(ctx, os.Stderr, false)
	if e == nil {
		return code
	}
	defer e.close()
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reports, err := projections.Reports(callCtx, e.pool)
	if err != nil {
		fmt.Fprintln(os.Stderr, "projector:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return 1
		}
		return 0
	}
	if err := printStatus(os.Stdout, reports, time.Now()); err != nil {
		return 1
	}
	return 0
}

// printStatus writes reports as a table.
func printStatus(w io.Writer, reports []projections.Report, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECTION\tSTATE\tVERSION\tGENERATION\tPOSITION\tLAG\tOWNER\tREBUILD")
	for _, r := range reports {
		lag := "?"
		if r.LagEvents != nil {
			lag = fmt.Sprint(*r.LagEvents)
		}
		owner := "-"
		if r.Owner != nil {
			owner = *r.Owner
		}
		state := r.State
		if r.LastError != nil {
			state += ": " + *r.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", r.Name, state, r.SchemaVersion, r.Generation,
			r.Position, lag, owner, describeRebuild(r, now))
	}
	return tw.Flush()
}

// describeRebuild says in a few words how the projection's rebuild stands, or how the last went.
func describeRebuild(r projections.Report, now time.Time) string {
	b := r.Rebuild
	if b == nil {
		if r.RebuiltAt != nil && r.RebuildEvents != nil && r.RebuildSeconds != nil {
			return fmt.Sprintf("- (last: %s, %d events in %.1fs)", r.RebuiltAt.UTC().Format(time.RFC3339),
				*r.RebuildEvents, *r.RebuildSeconds)
		}
		return "-"
	}
	s := fmt.Sprintf("generation %d (v%d): %d", b.Generation, b.SchemaVersion, b.Events)
	if b.EventsTotal != nil && *b.EventsTotal > 0 {
		s += fmt.Sprintf("/%d events (%.0f%%)", *b.EventsTotal, 100*min(1, float64(b.Events)/float64(*b.EventsTotal)))
	} else {
		s += " events"
	}
	if b.Builder != nil {
		s += " by " + *b.Builder
	} else {
		s += ", waiting for a builder"
	}
	s += fmt.Sprintf(", updated %s ago", now.Sub(b.UpdatedAt).Round(time.Second))
	if b.LastError != nil {
		s += ", failing: " + *b.LastError
	}
	return s
}

// rebuildCommand requests rebuilds, follows them to the switch with progress, and reports the rate.
func rebuildCommand(args []string) int {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	all := fs.Bool("all", false, "rebuild every projection")
	keepOld := fs.Bool("keep-old", false, "keep the replaced copy in schema retired_<projection>_<generation>")
	abort := fs.Bool("abort", false, "discard the rebuilds in progress")
	flags, names := splitArgs(args)
	usage := func(msg string) int {
		fmt.Fprintf(os.Stderr, "projector rebuild: %s\nusage: projector rebuild [--keep-old] <projection>... | --all\n"+
			"       projector rebuild --abort <projection>...\n", msg)
		return 2
	}
	if err := fs.Parse(flags); err != nil {
		return usage(err.Error())
	}
	byName := map[string]projections.Projection{}
	var known []string
	for _, p := range projections.All() {
		byName[p.Name()] = p
		known = append(known, p.Name())
	}
	switch {
	case *all && len(names) > 0:
		return usage("--all and projection names")
	case *all && *abort:
		return usage("--all and --abort")
	case *all:
		names = known
	case len(names) == 0:
		return usage("no projection named")
	}
	for _, n := range names {
		if byName[n] == nil {
			return usage(fmt.Sprintf("unknown projection %q (known: %s)", n, strings.Join(known, ", ")))
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	e, code := open(ctx, os.Stderr, !*abort)
	if e == nil {
		return code
	}
	defer e.close()

	if *abort {
		status := 0
		for _, n := range names {
			callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := projections.AbortRebuild(callCtx, e.pool, n)
			cancel()
			switch {
			case errors.Is(err, projections.ErrNoRebuild):
				fmt.Printf("%s: no rebuild in progress\n", n)
			case err != nil:
				fmt.Fprintln(os.Stderr, "projector:", err)
				status = 1
			default:
				fmt.Printf("%s: rebuild aborted, its copy dropped; the live copy is untouched\n", n)
			}
		}
		return status
	}

	targets := map[string]int{}
	for _, n := range names {
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		gen, err := projections.RequestRebuild(callCtx, e.pool, byName[n], "cli", *keepOld)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "projector:", err)
			return 1
		}
		targets[n] = gen
	}
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	for _, n := range names {
		if err := follow(ctx, e, byName[n], targets[n], tty); err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(os.Stderr, "projector: interrupted; the rebuild of %s resumes from its checkpoint when run again "+
					"(or when its projector next looks); discard it with projector rebuild --abort %s\n", n, n)
			} else {
				fmt.Fprintln(os.Stderr, "projector:", err)
			}
			return 1
		}
	}
	return 0
}

// follow shows the progress of p's rebuild until the switch to generation gen, carrying the rebuild
// out in this process whenever no projector owns p.
func follow(ctx context.Context, e *env, p projections.Projection, gen int, tty bool) error {
	name := p.Name()
	level := e.cfg.LogLevel
	if tty {
		level = max(level, slog.LevelWarn) // under the bar, info lines would only clutter it
	}
	cfg := projections.Config{
		Store: e.store, DB: e.pool, Projections: []projections.Projection{p},
		Owner:   "projector rebuild " + e.cfg.ProjectorID,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Timeout: e.cfg.StoreTimeout, RebuildBatchSize: e.cfg.RebuildBatchSize,
	}
	show := newProgress(name, tty)
	defer show.close()
	watch := time.NewTicker(watchEvery)
	defer watch.Stop()
	var (
		lastTry time.Time
		ran     = make(chan error, 1)
		running bool
	)
	for {
		if !running && time.Since(lastTry) >= takeOverEvery {
			lastTry = time.Now()
			running = true
			go func() {
				ok, err := projections.RunRebuild(ctx, cfg, name)
				if !ok && err == nil {
					err = errNotOwner
				}
				ran <- err
			}()
		}
		select {
		case <-ctx.Done():
			if running {
				<-ran
			}
			return ctx.Err()
		case err := <-ran:
			running = false
			if err != nil && !errors.Is(err, errNotOwner) && !errors.Is(err, projections.ErrNoRebuild) {
				return fmt.Errorf("rebuild %s: %w", name, err)
			}
		case <-watch.C:
		}
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		reports, err := projections.Reports(callCtx, e.pool)
		cancel()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(reports, func(r projections.Report) bool { return r.Name == name })
		if i < 0 {
			return fmt.Errorf("rebuild %s: the projection has no checkpoint", name)
		}
		r := reports[i]
		if r.Rebuild != nil {
			show.update(r.Rebuild)
			continue
		}
		if running {
			<-ran
		}
		if r.Generation < gen {
			return fmt.Errorf("rebuild %s: aborted", name)
		}
		show.done(r)
		return nil
	}
}

var errNotOwner = errors.New("another process owns the projection")

// progress shows a rebuild's progress: a bar on a terminal, a line every few seconds otherwise.
type progress struct {
	name    string
	bar     *progressbar.ProgressBar
	max     int64
	lastLog time.Time
	started time.Time
	first   int64
}

func newProgress(name string, tty bool) *progress {
	p := &progress{name: name, started: time.Now(), first: -1}
	if tty {
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("rebuild "+name),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) update(b *projections.RebuildReport) {
	if p.first < 0 {
		p.first = b.Events
	}
	total := b.Events
	if b.EventsTotal != nil {
		total = max(total, *b.EventsTotal)
	}
	if b.LagEvents != nil {
		total = max(total, b.Events+*b.LagEvents)
	}
	if p.bar != nil {
		if total != p.max {
			p.max = total
			p.bar.ChangeMax64(total)
		}
		_ = p.bar.Set64(b.Events)
		return
	}
	if time.Since(p.lastLog) < logEvery {
		return
	}
	p.lastLog = time.Now()
	rate := float64(b.Events-p.first) / max(time.Since(p.started).Seconds(), 0.001)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(total-b.Events)/rate) * time.Second).Round(time.Second).String()
	}
	by := "waiting for a builder"
	if b.Builder != nil {
		by = "by " + *b.Builder
	}
	fmt.Fprintf(os.Stderr, "rebuild %s: %d/%d events, %.0f events/s, eta %s (%s)\n", p.name, b.Events, total, rate, eta, by)
}

func (p *progress) done(r projections.Report) {
	p.close()
	if r.RebuildEvents != nil && r.RebuildSeconds != nil {
		fmt.Printf("%s: rebuilt, generation %d at %s: %d events in %.1fs (%.0f events/s)\n", r.Name, r.Generation,
			r.Position, *r.RebuildEvents, *r.RebuildSeconds, float64(*r.RebuildEvents)/max(*r.RebuildSeconds, 0.001))
		return
	}
	fmt.Printf("%s: rebuilt, generation %d at %s\n", r.Name, r.Generation, r.Position)
}

func (p *progress) close() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
