package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/backend"
	"github.com/orderflow/orderflow/internal/envconfig"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/serve"
	"github.com/orderflow/orderflow/internal/telemetry"
)

// config is the service's whole configuration, read from the environment once at start-up.
type config struct {
	HTTPAddr    string // HTTP_ADDR, default ":8081"
	DatabaseURL string // DATABASE_URL, required: the read models
	// EventStoreURL (EVENTSTORE_URL, default DATABASE_URL) is the event store the audit trail reads
	// (order history, timeline, as-of reads): PostgreSQL, or EventStoreDB with esdb:// or kurrentdb://.
	EventStoreURL string
	StoreTimeout  time.Duration // STORE_TIMEOUT, default 5s: each event-store read
	// BreakerFailures (BREAKER_FAILURES, default 5) outages in a row open the event store's circuit
	// breaker for BreakerOpenFor (BREAKER_OPEN_FOR, default 10s).
	BreakerFailures uint32
	BreakerOpenFor  time.Duration
	// EventStoreMaxConns (EVENTSTORE_MAX_CONNS, default 8) caps the PostgreSQL event store's pool.
	EventStoreMaxConns int32
	// MaxWait (MAX_WAIT, default 5s) is the default and the ceiling of a read-your-writes wait.
	MaxWait time.Duration
	// RequestTimeout (REQUEST_TIMEOUT, default MAX_WAIT + 5s) bounds a whole request, waiting
	// included, so it must exceed MAX_WAIT.
	RequestTimeout  time.Duration
	DatabaseTimeout time.Duration // DATABASE_TIMEOUT, default 3s: each read
	// ShutdownTimeout (SHUTDOWN_TIMEOUT, default 20s) is how long in-flight requests get after SIGTERM.
	ShutdownTimeout time.Duration
	// CacheTTL (CACHE_TTL, default 1s): a cached order is served for CACHE_TTL to twice that.
	CacheTTL   time.Duration
	CacheSize  int // CACHE_SIZE, default 10000: orders cached at most
	CacheBytes int // CACHE_MAX_BYTES, default 8 MiB: their size at most (see queryapi.Config)
	// DatabaseMaxConns (DATABASE_MAX_CONNS, default the larger of 4 and the number of CPUs, as
	// pgxpool's own default) caps the pool; the LISTEN connection is extra. A request waiting for a
	// position holds none. More connections than cores only add server processes competing for the
	// CPU: GET /orders/{id} did more per second with 4 than with 32 (see bench/README.md).
	DatabaseMaxConns int32
	LogLevel         slog.Level // LOG_LEVEL, default info
	LogFormat        string     // LOG_FORMAT, default json; text for people
	// Guard is authentication (AUTH, on by default: AUTH_HMAC_SECRET or AUTH_PUBLIC_KEY_FILE, and
	// AUTH_ISSUER, AUTH_AUDIENCE), the bound on requests in flight (MAX_IN_FLIGHT, default 512) and
	// each client's rate limit (RATE_LIMIT per second, default 100, or off; RATE_BURST, default twice
	// that): see httpapi.GuardSettings.
	Guard httpapi.Guard
	// PprofAddr (PPROF_ADDR, default off) serves net/http/pprof on this loopback address.
	PprofAddr string
	// MetricsToken (METRICS_TOKEN, default none: the page is open) is the bearer token GET /metrics
	// asks for.
	MetricsToken string
}

// loadConfig reads the configuration through getenv and validates it. The error names every setting
// that is missing or malformed.
func loadConfig(getenv func(string) string) (config, error) {
	p := envconfig.New(getenv)
	cfg := config{
		HTTPAddr:         p.String("HTTP_ADDR", ":8081"),
		DatabaseURL:      p.String("DATABASE_URL", ""),
		MaxWait:          p.Duration("MAX_WAIT", 5*time.Second),
		DatabaseTimeout:  p.Duration("DATABASE_TIMEOUT", 3*time.Second),
		ShutdownTimeout:  p.Duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		CacheTTL:         p.Duration("CACHE_TTL", time.Second),
		CacheSize:        p.Int("CACHE_SIZE", 10_000, 10_000_000),
		CacheBytes:       p.Int("CACHE_MAX_BYTES", 8<<20, 1<<36),
		DatabaseMaxConns: int32(p.Int("DATABASE_MAX_CONNS", max(4, runtime.NumCPU()), 10_000)),
		LogLevel:         p.Level("LOG_LEVEL", slog.LevelInfo),
		LogFormat:        p.String("LOG_FORMAT", telemetry.LogJSON),
		PprofAddr:        p.String("PPROF_ADDR", ""),
		MetricsToken:     p.String("METRICS_TOKEN", ""),

		StoreTimeout:       p.Duration("STORE_TIMEOUT", 5*time.Second),
		BreakerFailures:    uint32(p.Int("BREAKER_FAILURES", 5, 1<<20)),
		BreakerOpenFor:     p.Duration("BREAKER_OPEN_FOR", 10*time.Second),
		EventStoreMaxConns: int32(p.Int("EVENTSTORE_MAX_CONNS", 8, 10_000)),
	}
	cfg.EventStoreURL = p.String("EVENTSTORE_URL", cfg.DatabaseURL)
	cfg.RequestTimeout = p.Duration("REQUEST_TIMEOUT", cfg.MaxWait+5*time.Second)
	guard, guardErr := httpapi.ReadGuardSettings(p)
	if guardErr == nil {
		cfg.Guard, guardErr = guard.Guard(os.ReadFile)
	}
	return cfg, errors.Join(p.Err(), guardErr, cfg.Validate())
}

// Validate checks what parsing cannot: required settings, the shape of addresses and URLs, and
// settings that must agree. It joins one error per bad setting, each starting with the setting's
// name. URLs are never quoted in errors: they may hold a password.
func (c config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil || port == "" {
		bad("HTTP_ADDR", "want host:port or :port, got %q", c.HTTPAddr)
	}
	if c.DatabaseURL == "" {
		bad("DATABASE_URL", "missing: set the PostgreSQL connection string")
	} else if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil {
		bad("DATABASE_URL", "not a valid PostgreSQL connection string")
	}
	if err := backend.CheckURL(c.EventStoreURL, c.DatabaseURL); err != nil {
		bad("EVENTSTORE_URL", "%v", err)
	}
	for name, d := range map[string]time.Duration{
		"MAX_WAIT": c.MaxWait, "REQUEST_TIMEOUT": c.RequestTimeout, "DATABASE_TIMEOUT": c.DatabaseTimeout,
		"SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "CACHE_TTL": c.CacheTTL, "STORE_TIMEOUT": c.StoreTimeout,
		"BREAKER_OPEN_FOR": c.BreakerOpenFor,
	} {
		if d <= 0 {
			bad(name, "must be positive")
		}
	}
	if c.RequestTimeout <= c.MaxWait {
		bad("REQUEST_TIMEOUT", "must be longer than MAX_WAIT (%v), which a request may spend waiting", c.MaxWait)
	}
	if !telemetry.ValidLogFormat(c.LogFormat) {
		bad("LOG_FORMAT", "want %q or %q, got %q", telemetry.LogJSON, telemetry.LogText, c.LogFormat)
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
