package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	const db = "postgres://u:secret@127.0.0.1:5432/orders"
	// Authentication has tests of its own (internal/httpapi, e2e); here it is off unless a case sets it.
	getenv := func(env map[string]string) func(string) string {
		return func(k string) string {
			if _, set := env[k]; !set && k == "AUTH" {
				return "off"
			}
			return env[k]
		}
	}

	cfg, err := loadConfig(getenv(map[string]string{"DATABASE_URL": db}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":8081" || cfg.EventStoreURL != db || cfg.MaxWait != 5*time.Second ||
		cfg.RequestTimeout != 10*time.Second || cfg.CacheTTL != time.Second || cfg.CacheSize != 10_000 || cfg.LogFormat != "json" {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.StoreTimeout != 5*time.Second || cfg.BreakerFailures != 5 || cfg.BreakerOpenFor != 10*time.Second {
		t.Errorf("event-store defaults: %+v", cfg)
	}
	if cfg, err := loadConfig(getenv(map[string]string{"DATABASE_URL": db, "EVENTSTORE_URL": "esdb://127.0.0.1:2113?tls=false"})); err != nil || cfg.EventStoreURL == db {
		t.Errorf("EventStoreDB: %+v, %v", cfg, err)
	}
	cfg, err = loadConfig(getenv(map[string]string{"DATABASE_URL": db, "MAX_WAIT": "20s"}))
	if err != nil || cfg.RequestTimeout != 25*time.Second {
		t.Errorf("REQUEST_TIMEOUT follows MAX_WAIT: %v, %v", cfg.RequestTimeout, err)
	}

	for name, tt := range map[string]struct {
		env  map[string]string
		want []string // settings named in the error
	}{
		"nothing":             {map[string]string{}, []string{"DATABASE_URL"}},
		"malformed":           {map[string]string{"DATABASE_URL": db, "MAX_WAIT": "soon", "CACHE_SIZE": "0", "CACHE_MAX_BYTES": "8MiB", "HTTP_ADDR": "8081"}, []string{"MAX_WAIT", "CACHE_SIZE", "CACHE_MAX_BYTES", "HTTP_ADDR"}},
		"negative":            {map[string]string{"DATABASE_URL": db, "CACHE_TTL": "-1s"}, []string{"CACHE_TTL"}},
		"wait beyond request": {map[string]string{"DATABASE_URL": db, "MAX_WAIT": "10s", "REQUEST_TIMEOUT": "10s"}, []string{"REQUEST_TIMEOUT"}},
		"event store scheme":  {map[string]string{"DATABASE_URL": db, "EVENTSTORE_URL": "mysql://x"}, []string{"EVENTSTORE_URL"}},
		"event store URL":     {map[string]string{"DATABASE_URL": db, "EVENTSTORE_URL": "postgres://u:secret@host:notaport/x"}, []string{"EVENTSTORE_URL"}},
		"event store reads":   {map[string]string{"DATABASE_URL": db, "STORE_TIMEOUT": "0s", "BREAKER_OPEN_FOR": "-1s"}, []string{"STORE_TIMEOUT", "BREAKER_OPEN_FOR"}},
		"not a database URL":  {map[string]string{"DATABASE_URL": "postgres://u:secret@host:notaport/x"}, []string{"DATABASE_URL"}},
		"auth without a key":  {map[string]string{"DATABASE_URL": db, "AUTH": "on"}, []string{"AUTH"}},
		"short secret":        {map[string]string{"DATABASE_URL": db, "AUTH": "on", "AUTH_HMAC_SECRET": "secret"}, []string{"AUTH_HMAC_SECRET"}},
		"missing key file":    {map[string]string{"DATABASE_URL": db, "AUTH": "on", "AUTH_PUBLIC_KEY_FILE": "/nonexistent.pem"}, []string{"AUTH_PUBLIC_KEY_FILE"}},
		"bad rate limit":      {map[string]string{"DATABASE_URL": db, "RATE_LIMIT": "fast", "MAX_IN_FLIGHT": "0"}, []string{"RATE_LIMIT", "MAX_IN_FLIGHT"}},
		"pprof off loopback":  {map[string]string{"DATABASE_URL": db, "PPROF_ADDR": ":6060"}, []string{"PPROF_ADDR"}},
		"log format":          {map[string]string{"DATABASE_URL": db, "LOG_FORMAT": "xml"}, []string{"LOG_FORMAT"}},
		"short metrics token": {map[string]string{"DATABASE_URL": db, "METRICS_TOKEN": "secret"}, []string{"METRICS_TOKEN"}},
		"metrics token space": {map[string]string{"DATABASE_URL": db, "METRICS_TOKEN": "secret secret secret"}, []string{"METRICS_TOKEN"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(getenv(tt.env))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, setting := range tt.want {
				if !strings.Contains(err.Error(), setting+":") {
					t.Errorf("error %q does not name %s", err, setting)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}
