// Command projector builds the order platform's read models (package projections) from the event log.
//
//	projector [run]                              run the projections until SIGTERM or SIGINT (the default)
//	projector rebuild [--keep-old] <name>...|--all  rebuild projections blue-green, showing progress
//	projector rebuild --abort <name>...          discard rebuilds in progress
//	projector status [--json]                    every projection's state, position, lag and rebuild
//
// It is configured through the environment (see config.go): DATABASE_URL holds the read models and is
// required; EVENTSTORE_URL selects the event store (PostgreSQL by default, EventStoreDB with esdb://
// or kurrentdb://). At start-up it applies the read-model migrations, and the event-store ones when
// the events are in PostgreSQL, since it may start before the command API. With a PostgreSQL event
// store it LISTENs for append notifications and wakes at once; otherwise it polls every
// POLL_INTERVAL. It serves /healthz, /readyz and /metrics on HTTP_ADDR and logs JSON to stdout
// (LOG_FORMAT=text for text). It traces with OpenTelemetry when the standard OTEL_* variables ask
// (OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT; see internal/telemetry): a span per batch,
// linked to the spans of the commands that wrote its events. Any number of projectors may run: each
// projection is run by one of them at a time.
//
// A rebuild builds a new copy of a projection from the start of the log in a schema of its own while
// the live copy keeps serving and following the log, and then switches to it in one transaction
// (package projections, rebuild.go). The projector that owns the projection carries it out; `projector
// rebuild` records the request and shows its progress (a progress bar on a terminal, a log line every
// few seconds otherwise), and carries it out itself when no projector runs the projection. An
// interrupted rebuild resumes from its own checkpoint when run again, or when the owner next looks;
// --abort discards it. --keep-old keeps the replaced copy in schema retired_<name>_<generation>. A
// projection whose code has a newer SchemaVersion than its tables is rebuilt the same way at start-up
// (REBUILD_ON_START=blue-green, the default; "off" waits for `projector rebuild`).
//
// Exit status: 0 after a clean shutdown or a completed command, 1 when it fails, 2 for a bad
// configuration or command line.
package main

import (
	"context"
	"encoding/json"
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
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/eventstore/postgres"
	"github.com/orderflow/orderflow/internal/backend"
	"github.com/orderflow/orderflow/internal/serve"
	"github.com/orderflow/orderflow/internal/telemetry"
	"github.com/orderflow/orderflow/migrations"
	"github.com/orderflow/orderflow/projections"
)

// startupTimeout bounds migrations and the first connections.
const startupTimeout = time.Minute

const usage = `usage: projector [command]

commands:
  run                                  run the projections until SIGTERM or SIGINT (the default)
  rebuild [--keep-old] <projection>... rebuild projections blue-green from the start of the log
  rebuild [--keep-old] --all           rebuild every projection
  rebuild --abort <projection>...      discard rebuilds in progress; the live copies are untouched
  status [--json]                      print every projection's state, position, lag and rebuild

configuration: environment variables, see the documentation of cmd/projector`

func main() {
	command := "run"
	if len(os.Args) > 1 {
		command = os.Args[1]
	}
	switch command {
	case "run":
		os.Exit(daemon())
	case "rebuild":
		os.Exit(rebuildCommand(os.Args[2:]))
	case "status":
		os.Exit(statusCommand(os.Args[2:]))
	case "help", "-h", "-help", "--help":
		fmt.Println(usage)
	default:
		fmt.Fprintf(os.Stderr, "projector: unknown command %q\n%s\n", command, usage)
		os.Exit(2)
	}
}

// daemon runs the projector until a signal ends it and returns the exit status.
func daemon() int {
	hostname, _ := os.Hostname()
	cfg, err := loadConfig(os.Getenv, hostname, os.Getpid())
	if err != nil {
		// One line, whatever the number of bad settings, so that it reads well in any log viewer.
		fmt.Fprintln(os.Stderr, "projector: invalid configuration: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		return 2
	}
	log := telemetry.NewLogger(os.Stdout, cfg.LogFormat, cfg.LogLevel)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("projector failed", "error", err.Error())
		return 1
	}
	log.Info("projector stopped")
	return 0
}

// run builds the projector, runs it until ctx ends, and shuts down.
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
	tracing, err := telemetry.NewTracing(ctx, "projector", os.Getenv)
	if err != nil {
		return err
	}
	defer tracing.Stop(5*time.Second, log)
	reg := telemetry.NewRegistry()
	storeMetrics, err := backend.NewStoreMetrics(reg)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()

	if err := migrations.Up(startCtx, cfg.DatabaseURL, migrations.ReadModel()); err != nil {
		return err
	}
	if kind == backend.Postgres {
		if err := migrations.Up(startCtx, cfg.EventStoreURL, migrations.EventStore()); err != nil {
			return err
		}
	}
	store, closeStore, err := backend.Open(startCtx, cfg.EventStoreURL, backend.Options{
		Logger: log, Timeout: cfg.StoreTimeout, MaxConns: cfg.EventStoreMaxConns,
		TracerProvider: tracing.Provider, Metrics: storeMetrics,
	})
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	defer closeStore()

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

	metrics, err := projections.NewMetrics(reg)
	if err != nil {
		return err
	}

	// Everything below ends with runCtx, which also ends when run returns early, before the pools
	// close (deferred calls run last-in first-out).
	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()

	var waker projections.Waker
	if kind == backend.Postgres {
		wakeups, err := postgres.Listen(runCtx, cfg.EventStoreURL, postgres.AppendedChannel)
		if err != nil {
			return err
		}
		waker = projections.WakeChan(wakeups)
	}
	runner, err := projections.NewRunner(projections.Config{
		Store:          store,
		DB:             pool,
		Projections:    projections.All(),
		Owner:          cfg.ProjectorID,
		Waker:          waker,
		Metrics:        metrics,
		Logger:         log,
		TracerProvider: tracing.Provider,
		BatchSize:      cfg.BatchSize,
		PollInterval:   cfg.PollInterval,
		Timeout:        cfg.StoreTimeout,

		RebuildOnStart:   cfg.RebuildOnStart,
		RebuildBatchSize: cfg.RebuildBatchSize,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler(reg, cfg.MetricsToken, pool, runner, log),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}

	wg.Go(func() { _ = runner.Run(runCtx) })
	return serve.Serve(ctx, srv, ln, serve.Options{
		Logger:          log,
		LogAttrs:        []any{"eventstore", kind.String(), "projector_id", cfg.ProjectorID},
		ShutdownTimeout: cfg.ShutdownTimeout,
		// The projections end their batch and give up their locks; then the server stops.
		BeforeShutdown: wg.Wait,
	})
}

// handler serves /healthz (the process answers), /readyz (the read-model database answers and the
// projections have started) and /metrics (behind metricsToken, if any).
func handler(reg *prometheus.Registry, metricsToken string, pool *pgxpool.Pool, runner *projections.Runner, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		checks, ready := map[string]string{"database": "ok", "projections": "ok"}, true
		if err := pool.Ping(ctx); err != nil {
			log.WarnContext(ctx, "readiness check failed", "check", "database", "error", err)
			checks["database"], ready = "unavailable", false
		}
		select {
		case <-runner.Started():
		default:
			checks["projections"], ready = "starting", false
		}
		if !ready {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "checks": checks})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
	})
	mux.Handle("GET /metrics", telemetry.MetricsHandler(reg, log, metricsToken))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
