// Command command-api serves the order platform's command API (internal/commandapi) over HTTP.
//
// It is configured through the environment (see config.go): DATABASE_URL is required, EVENTSTORE_URL
// selects the event store (PostgreSQL by default, EventStoreDB with esdb:// or kurrentdb://). At
// start-up it applies the migrations it needs; on SIGTERM or SIGINT it stops accepting connections and
// gives in-flight requests SHUTDOWN_TIMEOUT to finish. It serves Prometheus metrics at /metrics and
// logs JSON to stdout (LOG_FORMAT=text for text), with correlation and trace IDs on each request's
// lines. It traces with OpenTelemetry when the standard OTEL_* variables ask (OTEL_TRACES_EXPORTER or
// OTEL_EXPORTER_OTLP_ENDPOINT; see internal/telemetry), and records each command's trace context in
// the metadata of the events it writes.
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
	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/commandapi"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/idempotency"
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
		fmt.Fprintln(os.Stderr, "command-api: invalid configuration: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(2)
	}
	log := telemetry.NewLogger(os.Stdout, cfg.LogFormat, cfg.LogLevel)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("command-api failed", "error", err.Error())
		stop()
		os.Exit(1)
	}
	log.Info("command-api stopped")
}

// run builds the service, serves until ctx ends, and shuts down.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	if cfg.PprofAddr != "" {
		stopPprof, err := serve.Pprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	kind, err := backend.KindOf(cfg.EventStoreURL)
	if err != nil {
		return err
	}
	tracing, err := telemetry.NewTracing(ctx, "command-api", os.Getenv)
	if err != nil {
		return err
	}
	defer tracing.Stop(5*time.Second, log)
	reg := telemetry.NewRegistry()
	storeMetrics, err := backend.NewStoreMetrics(reg)
	if err != nil {
		return err
	}
	apiMetrics, err := commandapi.NewMetrics(reg)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()

	if err := migrations.Up(startCtx, cfg.DatabaseURL, migrations.Commands()); err != nil {
		return err
	}
	if kind == backend.Postgres {
		if err := migrations.Up(startCtx, cfg.EventStoreURL, migrations.EventStore()); err != nil {
			return err
		}
	}

	store, closeStore, err := backend.Open(startCtx, cfg.EventStoreURL, backend.Options{
		Logger: log, Timeout: cfg.StoreTimeout, MaxConns: cfg.EventStoreMaxConns, NotifyAppends: true,
		TracerProvider: tracing.Provider, Metrics: storeMetrics,
	})
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	defer closeStore()
	breaker := resilience.NewBreaker(store, resilience.Settings{
		Failures: cfg.BreakerFailures, OpenFor: cfg.BreakerOpenFor, Logger: log,
	})

	// Its own pool, not the event store's even when both are one database: see idempotency.New.
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
	keys := idempotency.New(pool, idempotency.Options{TTL: cfg.IdempotencyTTL, Timeout: cfg.StoreTimeout, Logger: log})

	api := commandapi.New(commandapi.Config{
		Commands:    command.NewService(breaker, command.Options{StoreTimeout: cfg.StoreTimeout, CacheSize: cfg.OrderCacheSize, Logger: log}),
		Idempotency: keys,
		Ready: map[string]httpapi.Check{
			"eventstore": func(ctx context.Context) error { _, err := breaker.Head(ctx); return err },
			"database":   pool.Ping,
		},
		RequestTimeout: cfg.RequestTimeout,
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

	cleanCtx, stopCleaning := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = idempotency.NewCleaner(keys, cfg.CleanupInterval, log).Run(cleanCtx) })
	defer func() {
		stopCleaning()
		wg.Wait()
	}()

	return serve.Serve(ctx, srv, ln, serve.Options{
		Logger: log, LogAttrs: []any{"eventstore", kind.String()}, ShutdownTimeout: cfg.ShutdownTimeout,
	})
}
