package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/backend"
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
}

// loadConfig reads the configuration through getenv and validates it; hostname and pid make the
// default PROJECTOR_ID. The error names every setting that is missing or malformed.
func loadConfig(getenv func(string) string, hostname string, pid int) (config, error) {
	p := parser{getenv: getenv}
	cfg := config{
		HTTPAddr:           p.str("HTTP_ADDR", ":8082"),
		DatabaseURL:        p.str("DATABASE_URL", ""),
		ProjectorID:        p.str("PROJECTOR_ID", fmt.Sprintf("%s:%d", hostname, pid)),
		BatchSize:          p.integer("BATCH_SIZE", 500, 10_000),
		PollInterval:       p.duration("POLL_INTERVAL", 500*time.Millisecond),
		StoreTimeout:       p.duration("STORE_TIMEOUT", 30*time.Second),
		ShutdownTimeout:    p.duration("SHUTDOWN_TIMEOUT", 10*time.Second),
		EventStoreMaxConns: int32(p.integer("EVENTSTORE_MAX_CONNS", 8, 10_000)),
		DatabaseMaxConns:   int32(p.integer("DATABASE_MAX_CONNS", 10, 10_000)),
		LogLevel:           p.level("LOG_LEVEL", slog.LevelInfo),
	}
	cfg.EventStoreURL = p.str("EVENTSTORE_URL", cfg.DatabaseURL)
	return cfg, errors.Join(append(p.errs, cfg.Validate())...)
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
	return errors.Join(errs...)
}

// parser reads settings and collects one error per malformed one; a malformed setting takes its
// default so that the others are still checked.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := p.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.errs = append(p.errs, fmt.Errorf("%s: want a positive duration such as 5s or 250ms, got %q", name, v))
		return def
	}
	return d
}

func (p *parser) integer(name string, def, max int) int {
	v := p.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		p.errs = append(p.errs, fmt.Errorf("%s: want a whole number from 1 to %d, got %q", name, max, v))
		return def
	}
	return n
}

func (p *parser) level(name string, def slog.Level) slog.Level {
	v := p.str(name, "")
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: want debug, info, warn or error, got %q", name, v))
		return def
	}
	return l
}
