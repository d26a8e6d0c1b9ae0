package projections_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/postgres"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/migrations"
	"github.com/orderflow/orderflow/projections"
	"github.com/orderflow/orderflow/projections/projectiontest"
)

// env is one database holding both the event store and the read models, as a small deployment has.
type env struct {
	url      string
	pool     *pgxpool.Pool
	store    *postgres.Store
	appended atomic.Int64 // events written through append
}

func newEnv(t testing.TB) *env {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx := timeout(t, time.Minute)
	for _, set := range []migrations.Set{migrations.EventStore(), migrations.ReadModel()} {
		if err := migrations.Up(ctx, url, set); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{url: url, pool: newPool(t, url)}
	store, err := postgres.Open(ctx, e.pool)
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	return e
}

func newPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(timeout(t, 10*time.Second), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func timeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// fast are test timings: everything a projector waits for, shortened.
func fast(cfg projections.Config) projections.Config {
	cfg.PollInterval = max(cfg.PollInterval, 50*time.Millisecond)
	cfg.LockRetry, cfg.LockCheck = 100*time.Millisecond, 100*time.Millisecond
	cfg.MaxBackoff, cfg.StatusInterval = 200*time.Millisecond, 100*time.Millisecond
	return cfg
}

// running is a runner in a goroutine.
type running struct {
	*projections.Runner
	cancel context.CancelFunc
	done   chan struct{}
}

// stop cancels the runner and waits for it.
func (r *running) stop() {
	r.cancel()
	<-r.done
}

// run starts a runner on e with cfg, filling in what cfg leaves out, and stops it at cleanup.
func (e *env) run(t *testing.T, cfg projections.Config) *running {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = e.store
	}
	if cfg.DB == nil {
		cfg.DB = e.pool
	}
	if cfg.Projections == nil {
		cfg.Projections = projections.All()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Owner == "" {
		cfg.Owner = "test-" + uuid.NewString()[:8]
	}
	r, err := projections.NewRunner(fast(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{Runner: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rr.done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	t.Cleanup(rr.stop)
	return rr
}

// append writes events to the order's stream.
func (e *env) append(t *testing.T, order uuid.UUID, md eventstore.Metadata, events ...domain.Event) eventstore.AppendResult {
	t.Helper()
	res, err := e.store.Append(timeout(t, 10*time.Second), projectiontest.Stream(order), eventstore.Any(),
		projectiontest.Encode(t, md, events...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.appended.Add(int64(len(events)))
	return res
}

// log reads the whole log once every event written through append is visible. The log hides events
// behind any older transaction still running in the server, which may be another test package's: read
// at once, it may end short of what was appended.
func (e *env) log(t *testing.T) []eventstore.RecordedEvent {
	t.Helper()
	want := int(e.appended.Load())
	var log []eventstore.RecordedEvent
	eventually(t, 10*time.Second, fmt.Sprintf("%d events visible in the log", want), func() bool {
		var err error
		if log, err = e.store.ReadAll(timeout(t, 5*time.Second), eventstore.Position{}, want+1); err != nil {
			t.Fatal(err)
		}
		return len(log) >= want
	})
	return log
}

func (e *env) waitCaughtUp(t *testing.T, names ...string) {
	t.Helper()
	if len(names) == 0 {
		names = allNames()
	}
	projectiontest.WaitCaughtUp(t, e.pool, e.pool, 20*time.Second, names...)
}

func (e *env) dump(t *testing.T) map[string][]string {
	t.Helper()
	d, err := projectiontest.Dump(timeout(t, 10*time.Second), e.pool)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func allNames() []string {
	var names []string
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	return names
}

// errPoison is the error of a faulty projection.
var errPoison = errors.New("injected fault")

// faulty wraps a projection so that it fails on one chosen event until the fault is cleared.
type faulty struct {
	projections.Projection
	mu  sync.Mutex
	bad uuid.UUID
}

func (f *faulty) failOn(id uuid.UUID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bad = id
}

func (f *faulty) Apply(ctx context.Context, db projections.Querier, batch []eventstore.RecordedEvent, w *projections.Writes) error {
	f.mu.Lock()
	bad := f.bad
	f.mu.Unlock()
	for _, e := range batch {
		if e.ID == bad {
			return errPoison
		}
	}
	return f.Projection.Apply(ctx, db, batch, w)
}
