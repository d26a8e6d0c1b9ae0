package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/backend"
	"github.com/orderflow/orderflow/internal/envconfig"
	"github.com/orderflow/orderflow/internal/serve"
	"github.com/orderflow/orderflow/internal/telemetry"
	"github.com/orderflow/orderflow/projections"
)

// config is the projector's whole configuration, read from the environment once at start-up.
type config struct {
	HTTPAddr      string // HTTP_ADDR, default ":8082": /healthz, /readyz, /metrics
	EventStoreURL string // EVENTSTORE_URL, default DATABASE_URL
	DatabaseURL   string // DATABASE_URL, required: the read models
	// ProjectorID (PROJECTOR_ID, default host:pid) names this process in projection_status.owner.
	ProjectorID  string
	BatchSize    int           // BATCH_SIZE, default 500: events per transaction
	PollInterval time.Duration // POLL_INTERVAL, default 500ms: reads of an idle log without a wake-up
	// StoreTimeout (STORE_TIMEOUT, default 30s) bounds each read of the log and each batch.
	StoreTimeout time.Duration
	// ShutdownTimeout (SHUTDOWN_TIMEOUT, default 10s) bounds the HTTP server's shutdown.
	ShutdownTimeout    time.Duration
	EventStoreMaxConns int32      // EVENTSTORE_MAX_CONNS, default 8
	DatabaseMaxConns   int32      // DATABASE_MAX_CONNS, default 10 (plus one per owned projection for its lock)
	LogLevel           slog.Level // LOG_LEVEL, default info
	LogFormat          string     // LOG_FORMAT, default json; text for people
	// RebuildOnStart (REBUILD_ON_START, default blue-green) is what happens to a projection whose code
	// has a newer schema version than its tables: "blue-green" builds the new version beside the live
	// copy, which serves until the switch; "off" leaves it until someone runs `projector rebuild`.
	RebuildOnStart   projections.RebuildMode
	RebuildBatchSize int // REBUILD_BATCH_SIZE, default 10000: events per transaction of a rebuild
	// PprofAddr (PPROF_ADDR, default off) serves net/http/pprof on this loopback address.
	PprofAddr string
	// MetricsToken (METRICS_TOKEN, default none: the page is open) is the bearer token GET /metrics
	// asks for.
	MetricsToken string
}

// loadConfig reads the configuration through getenv and validates it; hostname and pid make the
// default PROJECTOR_ID. The error names every setting that is missing or malformed.
func loadConfig(getenv func(string) string, hostname string, pid int) (config, error) {
	p := envconfig.New(getenv)
	cfg := config{
		HTTPAddr:           p.String("HTTP_ADDR", ":8082"),
		DatabaseURL:        p.String("DATABASE_URL", ""),
		ProjectorID:        p.String("PROJECTOR_ID", fmt.Sprintf("%s:%d", hostname, pid)),
		BatchSize:          p.Int("BATCH_SIZE", 500, 10_000),
		PollInterval:       p.Duration("POLL_INTERVAL", 500*time.Millisecond),
		StoreTimeout:       p.Duration("STORE_TIMEOUT", 30*time.Second),
		ShutdownTimeout:    p.Duration("SHUTDOWN_TIMEOUT", 10*time.Second),
		EventStoreMaxConns: int32(p.Int("EVENTSTORE_MAX_CONNS", 8, 10_000)),
		DatabaseMaxConns:   int32(p.Int("DATABASE_MAX_CONNS", 10, 10_000)),
		LogLevel:           p.Level("LOG_LEVEL", slog.LevelInfo),
		LogFormat:          p.String("LOG_FORMAT", telemetry.LogJSON),
		RebuildOnStart:     projections.RebuildMode(p.String("REBUILD_ON_START", string(projections.RebuildBlueGreen))),
		RebuildBatchSize:   p.Int("REBUILD_BATCH_SIZE", 10_000, 100_000),
		PprofAddr:          p.String("PPROF_ADDR", ""),
		MetricsToken:       p.String("METRICS_TOKEN", ""),
	}
	cfg.EventStoreURL = p.String("EVENTSTORE_URL", cfg.DatabaseURL)
	return cfg, errors.Join(p.Err(), cfg.Validate())
}

// Validate checks what parsing cannot. It joins one error per bad setting, each starting with the
// setting's name. URLs are never quoted in errors: they may hold a password.
func (c config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil || port == "" {
		bad("HTTP_ADDR", "want host:port or :port, got %q", c.HTTPAddr)
	}
	if c.DatabaseURL == "" {
		bad("DATABASE_URL", "missing: set the PostgreSQL connection string of the read models")
	} else if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil {
		bad("DATABASE_URL", "not a valid PostgreSQL connection string")
	}
	switch kind, err := backend.KindOf(c.EventStoreURL); {
	case c.EventStoreURL == "":
		// DATABASE_URL is missing too, and said so.
	case err != nil && c.EventStoreURL == c.DatabaseURL:
		bad("EVENTSTORE_URL", "not set, and DATABASE_URL is not a postgres:// URL to use instead")
	case err != nil:
		bad("EVENTSTORE_URL", "%v", err)
	case kind == backend.Postgres && c.EventStoreURL != c.DatabaseURL:
		if _, err := pgxpool.ParseConfig(c.EventStoreURL); err != nil {
			bad("EVENTSTORE_URL", "not a valid PostgreSQL connection string")
		}
	}
	if c.ProjectorID == "" {
		bad("PROJECTOR_ID", "must not be empty")
	}
	if !telemetry.ValidLogFormat(c.LogFormat) {
		bad("LOG_FORMAT", "want %q or %q, got %q", telemetry.LogJSON, telemetry.LogText, c.LogFormat)
	}
	if _, err := projections.ParseRebuildMode(string(c.RebuildOnStart)); err != nil {
		bad("REBUILD_ON_START", "%v", err)
	}
	if err := telemetry.CheckMetricsToken(c.MetricsToken); err != nil {
		bad("METRICS_TOKEN", "%v", err)
	}
	if c.PprofAddr != "" {
		if err := serve.CheckPprofAddr(c.PprofAddr); err != nil {
			bad("PPROF_ADDR", "%v, got %q", err, c.PprofAddr)
		}
	}
	return errors.Join(errs...)
}
