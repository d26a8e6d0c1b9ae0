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
	HTTPAddr      string        // HTTP_ADDR, default ":8080"
	EventStoreURL string        // EVENTSTORE_URL, default DATABASE_URL
	DatabaseURL   string        // DATABASE_URL, required
	StoreTimeout  time.Duration // STORE_TIMEOUT, default 5s: each event-store and database call
	// RequestTimeout (REQUEST_TIMEOUT, default 10s) bounds a whole request, retries included.
	RequestTimeout time.Duration
	// ShutdownTimeout (SHUTDOWN_TIMEOUT, default 20s) is how long in-flight requests get after SIGTERM.
	ShutdownTimeout time.Duration
	IdempotencyTTL  time.Duration // IDEMPOTENCY_TTL, default 24h
	// CleanupInterval (IDEMPOTENCY_CLEANUP_INTERVAL, default 5m) is how often expired records go.
	CleanupInterval time.Duration
	BreakerFailures uint32        // BREAKER_FAILURES, default 5: outages in a row that open the breaker
	BreakerOpenFor  time.Duration // BREAKER_OPEN_FOR, default 10s
	// EventStoreMaxConns (EVENTSTORE_MAX_CONNS, default the larger of 4 and the number of CPUs, as
	// pgxpool's own default) caps the PostgreSQL event store's pool. Group commit leaves one
	// connection appending at a time and the others reading orders the cache misses; more
	// connections than that only add server processes competing for the CPU (see bench/README.md).
	EventStoreMaxConns int32
	// DatabaseMaxConns (DATABASE_MAX_CONNS, default 32) caps the idempotency pool, which holds a
	// connection for each request with an Idempotency-Key while it runs.
	DatabaseMaxConns int32
	// OrderCacheSize (ORDER_CACHE_SIZE, default 1000, or off) is how many orders the service keeps
	// folded in memory between commands, so that a command on one of them need not read its stream
	// (see command.Options.CacheSize). Negative: off.
	OrderCacheSize int
	LogLevel       slog.Level // LOG_LEVEL, default info
	LogFormat      string     // LOG_FORMAT, default json; text for people
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
		HTTPAddr:           p.String("HTTP_ADDR", ":8080"),
		DatabaseURL:        p.String("DATABASE_URL", ""),
		StoreTimeout:       p.Duration("STORE_TIMEOUT", 5*time.Second),
		RequestTimeout:     p.Duration("REQUEST_TIMEOUT", 10*time.Second),
		ShutdownTimeout:    p.Duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		IdempotencyTTL:     p.Duration("IDEMPOTENCY_TTL", 24*time.Hour),
		CleanupInterval:    p.Duration("IDEMPOTENCY_CLEANUP_INTERVAL", 5*time.Minute),
		BreakerFailures:    uint32(p.Int("BREAKER_FAILURES", 5, 1<<20)),
		BreakerOpenFor:     p.Duration("BREAKER_OPEN_FOR", 10*time.Second),
		EventStoreMaxConns: int32(p.Int("EVENTSTORE_MAX_CONNS", max(4, runtime.NumCPU()), 10_000)),
		DatabaseMaxConns:   int32(p.Int("DATABASE_MAX_CONNS", 32, 10_000)),
		LogLevel:           p.Level("LOG_LEVEL", slog.LevelInfo),
		LogFormat:          p.String("LOG_FORMAT", telemetry.LogJSON),
		PprofAddr:          p.String("PPROF_ADDR", ""),
		MetricsToken:       p.String("METRICS_TOKEN", ""),
	}
	cfg.EventStoreURL = p.String("EVENTSTORE_URL", cfg.DatabaseURL)
	if p.String("ORDER_CACHE_SIZE", "") == "off" {
		cfg.OrderCacheSize = -1
	} else {
		cfg.OrderCacheSize = p.Int("ORDER_CACHE_SIZE", 1_000, 10_000_000)
	}
	guard, guardErr := httpapi.ReadGuardSettings(p)
	if guardErr == nil {
		cfg.Guard, guardErr = guard.Guard(os.ReadFile)
	}
	return cfg, errors.Join(p.Err(), guardErr, cfg.Validate())
}

// Validate checks what parsing cannot: required settings and the shape of addresses and URLs. It
// joins one error per bad setting, each starting with the setting's name. URLs are never quoted in
// errors: they may hold a password.
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
		"STORE_TIMEOUT": c.StoreTimeout, "REQUEST_TIMEOUT": c.RequestTimeout, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout,
		"IDEMPOTENCY_TTL": c.IdempotencyTTL, "IDEMPOTENCY_CLEANUP_INTERVAL": c.CleanupInterval, "BREAKER_OPEN_FOR": c.BreakerOpenFor,
	} {
		if d <= 0 {
			bad(name, "must be positive")
		}
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
