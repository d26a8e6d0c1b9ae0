package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/orderflow/orderflow/eventstore"
)

// ProgressChannel is the channel the runner NOTIFYs, in each batch's transaction, with the payload
// "<projection name>:<position>". Durable: the query API listens to it.
const ProgressChannel = "projection_progress"

// A Waker tells the runner that events may have been appended, so that idle projections read at once
// instead of at their next poll. The channel of postgres.Listen is one, through WakeChan. Wake-ups
// may come early (the events not visible yet) or not at all: the runner retries briefly after each
// and polls anyway.
type Waker interface {
	Wakeups() <-chan struct{}
}

// WakeChan adapts a channel of wake-ups to Waker.
type WakeChan <-chan struct{}

func (c WakeChan) Wakeups() <-chan struct{} { return c }

// Config is what a Runner needs. Store, DB, Projections and Owner are required; the rest has defaults.
type Config struct {
	// Store is the event log. When it can also count events, as the PostgreSQL store does
	// (CountEvents), lag_events is exact up to a cap; otherwise it is left unknown.
	Store eventstore.LogReader
	// DB is the read-model database, with the read-model migrations applied.
	DB *pgxpool.Pool
	// Projections to run, each in a goroutine of its own.
	Projections []Projection
	// Owner names this process in projection_status.owner, such as "host-1:4711".
	Owner string
	// Waker wakes idle projections; nil leaves them to the poll.
	Waker Waker
	// Metrics receives the runner's metrics; nil keeps them unregistered.
	Metrics *Metrics
	// Logger receives state changes and failures; nil discards them.
	Logger *slog.Logger
	// TracerProvider makes a span per batch, linked to the spans of the commands that wrote its
	// events (from their metadata); nil makes none.
	TracerProvider trace.TracerProvider

	// BatchSize is the most events read and applied in one transaction (default 500).
	BatchSize int
	// PollInterval is how often an idle projection reads the log without a wake-up (default 500ms).
	// It also bounds the delay for events of writers that do not notify.
	PollInterval time.Duration
	// VisibilityRetry is how long an idle projection waits before it reads again when a wake-up
	// found nothing new (default 5ms): the new events may not be visible yet. The wait doubles with
	// each of the next retries, five of them and then until it would reach PollInterval, and every
	// wake-up ends it at once.
	VisibilityRetry time.Duration
	// LockRetry is how often a process waiting for a projection another process owns tries to take
	// it over (default 1s): a dead owner is replaced within about that long.
	LockRetry time.Duration
	// LockCheck is how often the owner checks the connection holding its lock (default 1s).
	LockCheck time.Duration
	// MaxBackoff caps the wait between attempts while a projection fails (default 30s).
	MaxBackoff time.Duration
	// StatusInterval is how often an idle projection refreshes its status row (default 5s); a
	// projection at work writes it with every batch.
	StatusInterval time.Duration
	// Timeout bounds each read of the log and each batch's transaction (default 1m).
	Timeout time.Duration
	// Now is the clock for lag in seconds (default time.Now).
	Now func() time.Time

	// RebuildOnStart is what happens to a projection whose recorded schema version is older than
	// its code's (default RebuildBlueGreen).
	RebuildOnStart RebuildMode
	// RebuildBatchSize is the most events read and applied in one transaction of a rebuild
	// (default 10,000): a rebuild holds about one batch in memory, whatever the length of the log.
	RebuildBatchSize int
	// RebuildPoll is how often the owner of a projection looks for a rebuild request (default 1s).
	RebuildPoll time.Duration
}

const (
	defaultBatchSize      = 500
	maxBatchSize          = 10_000
	maxRebuildBatchSize   = 100_000
	defaultPollInterval   = 500 * time.Millisecond
	defaultVisibility     = 5 * time.Millisecond
	defaultLockRetry      = time.Second
	defaultLockCheck      = time.Second
	defaultMaxBackoff     = 30 * time.Second
	defaultStatusInterval = 5 * time.Second
	defaultTimeout        = time.Minute
	windowBatches         = 4
)

// withDefaults returns c with every zero setting replaced by its default.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.BatchSize == 0 {
		c.BatchSize = defaultBatchSize
	}
	def(&c.PollInterval, defaultPollInterval)
	def(&c.VisibilityRetry, defaultVisibility)
	def(&c.LockRetry, defaultLockRetry)
	def(&c.LockCheck, defaultLockCheck)
	def(&c.MaxBackoff, defaultMaxBackoff)
	def(&c.StatusInterval, defaultStatusInterval)
	def(&c.Timeout, defaultTimeout)
	def(&c.RebuildPoll, defaultRebuildPoll)
	if c.RebuildBatchSize == 0 {
		c.RebuildBatchSize = defaultRebuildBatchSize
	}
	if c.RebuildOnStart == "" {
		c.RebuildOnStart = RebuildBlueGreen
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TracerProvider == nil {
		c.TracerProvider = noop.NewTracerProvider()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every setting that is missing or out of range, joined.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("projections: no event store"))
	}
	if c.DB == nil {
		errs = append(errs, errors.New("projections: no read-model database"))
	}
	if c.Owner == "" {
		errs = append(errs, errors.New("projections: no owner name"))
	}
	if len(c.Projections) == 0 {
		errs = append(errs, errors.New("projections: nothing to run"))
	}
	seen := map[string]bool{}
	for _, p := range c.Projections {
		switch name := p.Name(); {
		case name == "" || strings.Contains(name, ":"):
			errs = append(errs, fmt.Errorf("projections: invalid name %q: want a non-empty name without ':'", name))
		case seen[name]:
			errs = append(errs, fmt.Errorf("projections: %q twice", name))
		default:
			seen[name] = true
		}
		if p.SchemaVersion() < 1 {
			errs = append(errs, fmt.Errorf("projections: %s: schema version %d, want >= 1", p.Name(), p.SchemaVersion()))
		}
	}
	if c.BatchSize < 0 || c.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf("projections: batch size %d, want 1 to %d", c.BatchSize, maxBatchSize))
	}
	if c.RebuildBatchSize < 0 || c.RebuildBatchSize > maxRebuildBatchSize {
		errs = append(errs, fmt.Errorf("projections: rebuild batch size %d, want 1 to %d", c.RebuildBatchSize, maxRebuildBatchSize))
	}
	if c.RebuildOnStart != "" {
		if _, err := ParseRebuildMode(string(c.RebuildOnStart)); err != nil {
			errs = append(errs, fmt.Errorf("projections: %w", err))
		}
	}
	for name, d := range map[string]time.Duration{"poll interval": c.PollInterval, "visibility retry": c.VisibilityRetry, "lock retry": c.LockRetry,
		"lock check": c.LockCheck, "rebuild poll": c.RebuildPoll, "max backoff": c.MaxBackoff, "status interval": c.StatusInterval, "timeout": c.Timeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("projections: negative %s", name))
		}
	}
	return errors.Join(errs...)
}

// Runner runs projections: each in a goroutine of its own, owned by one process at a time.
type Runner struct {
	cfg     Config
	workers []*worker
	window  *logWindow // the workers' reads of the log
	started chan struct{}
	once    sync.Once
}

// NewRunner checks cfg and returns a runner; Run starts it.
func NewRunner(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Metrics == nil {
		m, err := NewMetrics(prometheus.NewRegistry())
		if err != nil {
			return nil, err
		}
		cfg.Metrics = m
	}
	counter, _ := cfg.Store.(eventCounter)
	r := &Runner{cfg: cfg, started: make(chan struct{})}
	// A few batches: enough for projections a batch or two apart to share, little memory.
	r.window = newLogWindow(cfg.Store, windowBatches*(cfg.BatchSize+1), cfg.Timeout, cfg.Metrics)
	ended := newBatchEnds()
	for _, p := range cfg.Projections {
		w := newWorker(p, &r.cfg, counter)
		w.ended = ended
		w.source = r.window
		r.workers = append(r.workers, w)
	}
	return r, nil
}

// Run runs every projection until ctx ends, then returns nil once each has stopped and given up
// ownership. A projection that fails keeps retrying; it never ends Run.
func (r *Runner) Run(ctx context.Context) error {
	ran := false
	r.once.Do(func() { ran = true })
	if !ran {
		return errors.New("projections: Runner.Run called twice")
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.window.run(ctx) })
	for _, w := range r.workers {
		wg.Go(func() { w.run(ctx) })
	}
	if r.cfg.Waker != nil {
		wakeups := r.cfg.Waker.Wakeups()
		wg.Go(func() { r.fanOut(ctx, wakeups) })
	}
	close(r.started)
	wg.Wait()
	return nil
}

// fanOut passes each wake-up on to every projection, without ever blocking on one.
func (r *Runner) fanOut(ctx context.Context, wakeups <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-wakeups:
			if !ok {
				return // the waker has stopped: the poll remains
			}
			for _, w := range r.workers {
				select {
				case w.wake <- struct{}{}:
				default: // a wake-up is pending already
				}
			}
		}
	}
}

// Started is closed once Run has started every projection.
func (r *Runner) Started() <-chan struct{} { return r.started }

// Status returns what this process knows about each projection, in configuration order. A
// projection another process owns shows StateWaitingForLock and no progress.
func (r *Runner) Status() []Status {
	out := make([]Status, len(r.workers))
	for i, w := range r.workers {
		out[i] = w.snapshot()
	}
	return out
}

// State is what a projection is doing.
type State string

const (
	// StateWaitingForLock: another process owns the projection; this one waits to take over. Only
	// seen in the waiting process (metrics, Status), never written to projection_status.
	StateWaitingForLock State = "waiting_for_lock"
	// StateCatchingUp: applying batches with more events known to be waiting.
	StateCatchingUp State = "catching_up"
	// StateRunning: the last batch reached the head of the log as it was read.
	StateRunning State = "running"
	// StateIdle: caught up, waiting for events.
	StateIdle State = "idle"
	// StateFailing: the last attempt failed; retrying with backoff.
	StateFailing State = "failing"
	// StateStopped: the owner shut down cleanly and no process has taken over yet.
	StateStopped State = "stopped"
)

// states lists every State, for the state metric.
func states() []State {
	return []State{StateWaitingForLock, StateCatchingUp, StateRunning, StateIdle, StateFailing, StateStopped}
}

// Status is one projection as this process sees it.
type Status struct {
	Name          string
	SchemaVersion int
	State         State
	Owned         bool
	Position      eventstore.Position
	Head          eventstore.Position
	// LagEvents is the number of events between Position and Head, -1 when unknown.
	LagEvents  int64
	LagSeconds float64
	// LastError and ErrorPosition describe the failure while State is StateFailing. ErrorPosition
	// is nil when the failure is not tied to an event (the database was unreachable).
	LastError     string
	ErrorPosition *eventstore.Position
	ErrorCount    int
}
