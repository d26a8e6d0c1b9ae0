// Package backend opens the event store a service is configured with, chosen by the scheme of a
// connection string, so that every service (command API, projector, query API) selects its backend the
// same way:
//
//	postgres://, postgresql://                        eventstore/postgres on a pgx pool
//	esdb://, kurrentdb://, kurrent:// (and +discover)  eventstore/esdb (EventStoreDB / KurrentDB)
//
// It does not apply migrations: PostgreSQL's event-store schema is the service's business
// (migrations.EventStore), and must be in place before Open.
package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/esdb"
	"github.com/orderflow/orderflow/eventstore/postgres"
	"github.com/orderflow/orderflow/internal/telemetry"
)

// Kind is a family of event-store backends.
type Kind int

const (
	Postgres Kind = iota + 1
	EventStoreDB
)

func (k Kind) String() string {
	switch k {
	case Postgres:
		return "postgres"
	case EventStoreDB:
		return "esdb"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// ErrUnknownScheme is returned for a connection string whose scheme names no backend.
var ErrUnknownScheme = errors.New("unknown event store scheme: want postgres://, postgresql://, esdb:// or kurrentdb://")

// KindOf returns the backend url selects, without connecting. Configuration checks use it to reject a
// bad setting before anything starts.
func KindOf(url string) (Kind, error) {
	scheme, _, ok := strings.Cut(url, "://")
	if !ok {
		return 0, ErrUnknownScheme
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return Postgres, nil
	case "esdb", "esdb+discover", "kurrentdb", "kurrentdb+discover", "kurrent", "kurrent+discover":
		return EventStoreDB, nil
	default:
		// Not quoting the whole URL: it may hold a password.
		return 0, fmt.Errorf("%w (got %q)", ErrUnknownScheme, scheme)
	}
}

// CheckURL checks an event-store setting without connecting, for a service's configuration check:
// a scheme KindOf knows and, for PostgreSQL, a connection string pgx parses. fallback is the setting
// url defaults to (DATABASE_URL), which makes for a clearer error when url is that default. An empty
// url passes: the setting it falls back to is missing too, and reported as such. Errors never quote
// the URL, which may hold a password.
func CheckURL(url, fallback string) error {
	switch kind, err := KindOf(url); {
	case url == "":
		return nil
	case err != nil && url == fallback:
		return errors.New("not set, and DATABASE_URL is not a postgres:// URL to use instead")
	case err != nil:
		return err
	case kind == Postgres && url != fallback:
		if _, err := pgxpool.ParseConfig(url); err != nil {
			return errors.New("not a valid PostgreSQL connection string")
		}
	}
	return nil
}

// Options tune Open. The zero value is usable.
type Options struct {
	// Logger receives the EventStoreDB client's own log lines and failed append notifications; nil
	// discards them.
	Logger *slog.Logger
	// Timeout bounds calls whose ctx has no deadline (EventStoreDB only: the PostgreSQL store relies
	// on its callers' deadlines).
	Timeout time.Duration
	// MaxConns caps the PostgreSQL pool (0: pgx's default, or pool_max_conns in the URL).
	MaxConns int32
	// NotifyAppends makes a PostgreSQL store announce its appends on postgres.AppendedChannel, so
	// that projectors wake at once instead of at their next poll. Writers set it; readers need not.
	NotifyAppends bool
	// TracerProvider traces the store's calls made under a span of the caller, and the PostgreSQL
	// pool's queries; nil traces nothing.
	TracerProvider trace.TracerProvider
	// Metrics receives the store's metrics (NewStoreMetrics); nil keeps none.
	Metrics *StoreMetrics
}

// Open connects to the event store at url and returns it with a function that releases its
// connections. The store is traced and measured as opts say, the same way for every backend. It fails if the store cannot be reached within ctx's deadline; such failures wrap
// eventstore.ErrUnavailable.
func Open(ctx context.Context, url string, opts Options) (eventstore.Store, func(), error) {
	kind, err := KindOf(url)
	if err != nil {
		return nil, nil, err
	}
	open := openESDB
	if kind == Postgres {
		open = openPostgres
	}
	store, closeStore, err := open(ctx, url, opts)
	if err != nil {
		return nil, nil, err
	}
	return observe(store, kind, opts.TracerProvider, opts.Metrics), closeStore, nil
}

func openPostgres(ctx context.Context, url string, opts Options) (eventstore.Store, func(), error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn's parse errors do not repeat the password.
		return nil, nil, fmt.Errorf("event store: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.TracerProvider != nil {
		cfg.ConnConfig.Tracer = telemetry.PgxTracer(opts.TracerProvider)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("event store: %w", err)
	}
	store, err := postgres.Open(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	if !opts.NotifyAppends {
		return store, pool.Close, nil
	}
	// The notifier outlives ctx, which only bounds opening; closing the store ends it.
	notifyCtx, stopNotify := context.WithCancel(context.Background())
	notifying := store.EnableNotify(notifyCtx, postgres.NotifyOptions{Logger: opts.Logger})
	return notifying, func() { stopNotify(); pool.Close() }, nil
}

func openESDB(ctx context.Context, url string, opts Options) (eventstore.Store, func(), error) {
	var esdbOpts []esdb.Option
	if opts.Logger != nil {
		esdbOpts = append(esdbOpts, esdb.WithLogger(opts.Logger))
	}
	if opts.Timeout > 0 {
		esdbOpts = append(esdbOpts, esdb.WithTimeout(opts.Timeout))
	}
	store, err := esdb.Open(ctx, url, esdbOpts...)
	if err != nil {
		return nil, nil, err
	}
	return store, func() { _ = store.Close() }, nil
}
