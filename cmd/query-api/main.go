// Command query-api serves the order platform's query API (internal/queryapi) over HTTP: read models
// that the projector keeps in PostgreSQL, with read-your-writes on request, and the audit trail
// (order history, timeline page, as-of reads) straight from the event store.
//
// It is configured through the environment (see config.go): DATABASE_URL is required; EVENTSTORE_URL
// selects the event store as the command API's does (PostgreSQL by default, EventStoreDB with esdb://
// or kurrentdb://), read through a circuit breaker; MAX_WAIT sets the default and ceiling of
// read-your-writes waits. At start-up it applies the read-model migrations, and the event-store ones
// when the store is PostgreSQL; it holds one extra connection that LISTENs for the projector's
// progress. On SIGTERM or
// SIGINT it stops accepting connections and gives in-flight requests SHUTDOWN_TIMEOUT to finish. It
// serves Prometheus metrics at /metrics, and logs JSON to stdout (LOG_FORMAT=text for text) and
// prints nothing else there. It traces with OpenTelemetry when the standard OTEL_* variables ask
// (OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT; see internal/telemetry).
//
// Exit status: 0 after a clean shutdown, 1 when it fails, 2 for a bad configuration.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/backend"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/queryapi"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
	"github.com/orderflow/orderflow/internal/resilience"
	"github.com/orderflow/orderflow/internal/serve"
	"github.com/orderflow/orderflow/internal/telemetry"
	"github.com/orderflow/orderflow/migrations"
)

// startupTimeout bounds migrations and the first connections.
const startupTimeout = time.Minute

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		// One line, whatever the number of bad settings, so that it reads well in any log viewer.
		fmt.Fprintln(os.Stderr, "query-api: invalid configuration: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(2)
	}
	log := telemetry.NewLogger(os.Stdout, cfg.LogFormat, cfg.LogLevel)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("query-api failed", "error", err.Error())
		stop()
		os.Exit(1)
	}
	log.Info("query-api stopped")
}

// run builds the service, serves until ctx ends, and shuts down.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	kind, err := backend.KindOf(cfg.EventStoreURL)
	if err != nil {
		return err
	}
	tracing, err := telemetry.NewTracing(ctx, "query-api", os.Getenv)
	if err != nil {
		return err
	}
	defer tracing.Stop(5*time.Second, log)
	reg := telemetry.NewRegistry()
	apiMetrics, err := queryapi.NewMetrics(reg)
	if err != nil {
		return err
	}
	storeMetrics, err := backend.NewStoreMetrics(reg)
	if err != nil {
		return err
	}
	if cfg.PprofAddr != "" {
		stopPprof, err := serve.Pprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	startCtx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := migrations.Up(startCtx, cfg.DatabaseURL, migrations.ReadModel()); err != nil {
		return err
	}
	// The event store's schema too, so that the query API may start before the command API.
	if kind == backend.Postgres {
		if err := migrations.Up(startCtx, cfg.EventStoreURL, migrations.EventStore()); err != nil {
			return err
		}
	}
	events, closeEvents, err := backend.Open(startCtx, cfg.EventStoreURL, backend.Options{
		Logger: log, Timeout: cfg.StoreTimeout, MaxConns: cfg.EventStoreMaxConns,
		TracerProvider: tracing.Provider, Metrics: storeMetrics,
	})
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	defer closeEvents()
	breaker := resilience.NewBreaker(events, resilience.Settings{
		Failures: cfg.BreakerFailures, OpenFor: cfg.BreakerOpenFor, Logger: log,
	})

	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	poolCfg.MaxConns = cfg.DatabaseMaxConns
	if tracing.Enabled {
		poolCfg.ConnConfig.Tracer = telemetry.PgxTracer(tracing.Provider)
	}
	pool, err := pgxpool.NewWithConfig(startCtx, poolCfg)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	store := readmodel.NewStore(pool, cfg.DatabaseTimeout)
	broker, err := readmodel.NewBroker(cfg.DatabaseURL, store, readmodel.BrokerOptions{Logger: log, Timeout: cfg.DatabaseTimeout})
	if err != nil {
		return err
	}

	api := queryapi.New(queryapi.Config{
		ReadModels:   store,
		Progress:     broker,
		Events:       breaker,
		StoreTimeout: cfg.StoreTimeout,
		Ready: map[string]httpapi.Check{
			"database":   pool.Ping,
			"listener":   broker.Ready,
			"eventstore": func(ctx context.Context) error { _, err := breaker.Head(ctx); return err },
		},
		MaxWait:        cfg.MaxWait,
		RequestTimeout: cfg.RequestTimeout,
		CacheTTL:       cfg.CacheTTL,
		CacheSize:      cfg.CacheSize,
		CacheBytes:     cfg.CacheBytes,
		Guard:          cfg.Guard,
		Logger:         log,
		TracerProvider: tracing.Provider,
		Metrics:        apiMetrics,
	})

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           telemetry.WithMetrics(api, reg, log, cfg.MetricsToken),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.RequestTimeout,
		// A request may run for RequestTimeout before its response is written.
		WriteTimeout: cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:  2 * time.Minute,
	}

	// The broker outlives ctx until the server has shut down: requests still waiting for a position
	// during the shutdown should be woken, not left to time out.
	brokerCtx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = broker.Run(brokerCtx) })
	defer wg.Wait()
	defer stopBroker()

	return serve.Serve(ctx, srv, ln, serve.Options{
		Logger: log, LogAttrs: []any{"eventstore", kind.String()}, ShutdownTimeout: cfg.ShutdownTimeout,
	})
}
