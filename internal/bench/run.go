package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/postgres"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/migrations"
)

// Config is one benchmark run.
type Config struct {
	// AdminURL is a connection string to the server, for a user that may create databases. The run
	// creates two databases in it and drops them at the end.
	AdminURL  string
	BinDir    string // holds the command-api, projector and query-api binaries
	Pgbench   string // the pgbench binary
	ScriptDir string // holds the pgbench scripts insert.sql and command.sql
	OutDir    string // where the JSON result goes
	LogDir    string // where the services' logs go
	Mode      string // "quick" or "full", for the report

	Step          time.Duration // each measurement at one client count
	LagStep       time.Duration // each of the two lag measurements
	PacedRate     float64       // commands per second of the paced run; 0: half the 32-client rate
	LagRate       float64       // commands per second of the lag runs; 0: half the best command rate
	LightLagRate  float64       // commands per second of a lag run under light load; 0 skips it
	Clients       []int         // baseline, commands and append
	QueryClients  []int         // GET /orders/{id}
	PgbenchScale  int           // of pgbench -i, for the select-only baseline
	Progress      io.Writer     // one line per step
	RebuildEvents int           // events pre-loaded for the rebuild measurement; 0 skips it
	// ProfileDir, when set, turns on each service's pprof listener and keeps CPU profiles of the
	// command API and the query API taken over their busiest steps (the most clients), and of all
	// three services over the lag step (lag-*.cpu.pprof).
	ProfileDir string
}

// Run measures everything and writes the table to w and the JSON to cfg.OutDir.
func Run(ctx context.Context, cfg Config, w io.Writer) (*Results, error) {
	r := &Results{Started: time.Now().UTC(), Mode: cfg.Mode, StepSeconds: cfg.Step.Seconds(), PeakRSSMiB: map[string]float64{}}
	say := func(format string, args ...any) { fmt.Fprintf(cfg.Progress, "bench: "+format+"\n", args...) }

	admin, err := pgx.Connect(ctx, cfg.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if r.Environment, err = environment(ctx, admin); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.Notes = append(r.Notes, "load average at the start (1, 5, 15 min): "+strings.Join(strings.Fields(string(b))[:3], " "))
	}
	suffix := r.Started.Format("20060102_150405")
	baseURL, err := createDatabase(ctx, admin, cfg.AdminURL, "bench_base_"+suffix)
	if err != nil {
		return nil, err
	}
	defer dropDatabase(admin, "bench_base_"+suffix)
	appURL, err := createDatabase(ctx, admin, cfg.AdminURL, "bench_app_"+suffix)
	if err != nil {
		return nil, err
	}
	defer dropDatabase(admin, "bench_app_"+suffix)

	// The baseline database holds pgbench's tables, the baseline's event-shaped table and an event
	// store of its own for the append figures, so that the services' database sees no foreign events.
	say("preparing the baseline database (pgbench -i -s %d, seeded tables)", cfg.PgbenchScale)
	pg := Pgbench{Bin: cfg.Pgbench, URL: baseURL}
	if err := pg.Init(ctx, cfg.PgbenchScale); err != nil {
		return nil, err
	}
	store, pool, err := prepareBaseline(ctx, baseURL, slices.Max(cfg.Clients))
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	// baseline runs one pgbench measurement at c clients and keeps it in into.
	baseline := func(name string, c int, into *[]Point, run func() (PgbenchResult, error)) error {
		res, err := run()
		if err != nil {
			return err
		}
		*into = append(*into, Point{Clients: c, PgbenchResult: res})
		say("pgbench %s, %d clients: %.0f tps", name, c, res.TPS)
		return nil
	}
	data := sampleEvent()
	meta := eventstore.Metadata{CorrelationID: "bench", Actor: "bench", Command: "AddItem"}
	for _, c := range cfg.Clients {
		script := func(file string) func() (PgbenchResult, error) {
			return func() (PgbenchResult, error) { return pg.Script(ctx, filepath.Join(cfg.ScriptDir, file), c, cfg.Step) }
		}
		if err := baseline("insert", c, &r.Baseline.Insert, script("insert.sql")); err != nil {
			return nil, err
		}
		// The appends right after the insert they are compared with: on durable settings both wait
		// for the disk's flushes, whose times drift over minutes.
		prefix := uuid.NewString()
		streams := make([]int, c)
		res := ClosedLoop(ctx, c, cfg.Step, func(ctx context.Context, w int) error {
			streams[w]++
			_, err := store.Append(ctx, fmt.Sprintf("%s-%d-%d", prefix, w, streams[w]), eventstore.NoStream(),
				eventstore.EventData{ID: uuid.New(), Type: "ItemAdded", SchemaVersion: 1, Data: data, Metadata: meta})
			return err
		})
		m := NewMeasured(c, res, TPSAt(r.Baseline.Insert, c))
		r.Append = append(r.Append, m)
		say("append, %d clients: %.0f/s (ratio to insert %.2f)", c, m.Rate, m.Ratio)

		if err := baseline("command", c, &r.Baseline.Command, script("command.sql")); err != nil {
			return nil, err
		}
		if err := baseline("select-only", c, &r.Baseline.SelectOnly, func() (PgbenchResult, error) { return pg.SelectOnly(ctx, c, cfg.Step) }); err != nil {
			return nil, err
		}
	}
	pool.Close()

	if err := runServices(ctx, cfg, r, appURL, say); err != nil {
		return nil, err
	}
	if cfg.RebuildEvents > 0 {
		// After the services have stopped, in a database of its own.
		name := "bench_rebuild_" + suffix
		dbURL, err := createDatabase(ctx, admin, cfg.AdminURL, name)
		if err != nil {
			return nil, err
		}
		defer dropDatabase(admin, name)
		say("rebuild: pre-loading %d events", cfg.RebuildEvents)
		r.Projection.Rebuild, err = measureRebuild(ctx, rebuildRun{DatabaseURL: dbURL, Projector: filepath.Join(cfg.BinDir, "projector"),
			LogPath: filepath.Join(cfg.LogDir, "projector-rebuild.log"), Events: cfg.RebuildEvents}, say)
		if err != nil {
			return nil, err
		}
	} else {
		r.Projection.RebuildNote = "skipped (--rebuild-events=0)"
	}

	if err := r.WriteTable(w); err != nil {
		return nil, err
	}
	path, err := r.WriteJSON(cfg.OutDir)
	if err != nil {
		return nil, err
	}
	say("wrote %s", path)
	return r, nil
}

// goMemLimit is the services' soft memory limit, as docker-compose.yml sets it.
const goMemLimit = "40MiB"

func runServices(ctx context.Context, cfg Config, r *Results, dbURL string, say func(string, ...any)) error {
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return err
	}
	// Authentication stays on, as deployed, with a secret of this run; the per-client rate limit is
	// off, since one client of the load stands for many users and the limit would cap the figure.
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		return err
	}
	secret := hex.EncodeToString(random) // the services take the setting's bytes as the key
	token, err := auth.SignHS256([]byte(secret), "bench", auth.Admin, "", "", time.Now(), 2*time.Hour)
	if err != nil {
		return err
	}
	// /metrics is behind a token of its own too, as a deployment reachable from outside has it.
	random = make([]byte, 16)
	if _, err := rand.Read(random); err != nil {
		return err
	}
	metricsToken := hex.EncodeToString(random)
	env := map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "warn", "AUTH_HMAC_SECRET": secret, "RATE_LIMIT": "off",
		"GOMEMLIMIT": goMemLimit, "METRICS_TOKEN": metricsToken}
	r.Notes = append(r.Notes, "services run with authentication on (HS256 bearer token, admin role; METRICS_TOKEN for /metrics), RATE_LIMIT=off and GOMEMLIMIT="+goMemLimit+", as in docker-compose.yml")
	var (
		services     []*Service
		projectorEnv map[string]string
	)
	pprofAddrs := map[string]string{}
	defer func() {
		for _, s := range services {
			stopService(r, s)
		}
	}()
	// The projector first: it and the command API both apply the event-store migrations, which is
	// safe but slower at once.
	for _, name := range []string{"projector", "command-api", "query-api"} {
		env := maps.Clone(env)
		if cfg.ProfileDir != "" {
			port, err := freePort()
			if err != nil {
				return err
			}
			pprofAddrs[name] = "127.0.0.1:" + strconv.Itoa(port)
			env["PPROF_ADDR"] = pprofAddrs[name]
		}
		s, err := StartService(ctx, name, filepath.Join(cfg.BinDir, name), filepath.Join(cfg.LogDir, name+".log"), env)
		if err != nil {
			return err
		}
		if name == "projector" {
			projectorEnv = env
		}
		services = append(services, s)
		say("%s running (pid %d, %s)", name, s.PID(), s.URL)
	}
	projector, commands, queries := services[0], services[1], services[2]
	client := NewClient(commands.URL, queries.URL, token, metricsToken, max(slices.Max(cfg.Clients), slices.Max(cfg.QueryClients))+256)

	// The command steps measure the write side alone, as the command script does: a projector
	// applying each event to four read models meanwhile would take half of the two cores. It
	// runs again after them and catches up, which measures how fast it applies events live.
	stopService(r, projector)
	say("projector stopped for the command steps")
	var (
		best        float64
		bestClients int
	)
	for _, c := range cfg.Clients {
		stopProfile := profile(ctx, cfg, pprofAddrs, "command-api", "command-api", cfg.Step, c == slices.Max(cfg.Clients), say)
		res := ClosedLoop(ctx, c, cfg.Step, client.Command)
		stopProfile()
		if res.Ops == 0 {
			return fmt.Errorf("commands, %d clients: every request failed: %w", c, res.FirstErr)
		}
		m := NewMeasured(c, res, TPSAt(r.Baseline.Command, c))
		m.RatioInsert = Ratio(res.Rate(), TPSAt(r.Baseline.Insert, c))
		r.Commands = append(r.Commands, m)
		if res.Rate() > best {
			best, bestClients = res.Rate(), c
		}
		say("commands, %d clients: %.0f/s, p99 %.2f ms (ratio to the command script %.2f), %d errors", c, m.Rate, m.Latency.P99, m.Ratio, m.Errors)
	}
	// The latency of commands at half the 32-client rate (the best rate without 32 clients), paced,
	// as the command target asks, still with the write side alone; or at --paced-rate.
	paced := TPSOf(r.Commands, 32, best) / 2
	if cfg.PacedRate > 0 {
		paced = cfg.PacedRate
	}
	if paced > 0 {
		cpu := startCPU(pids(services))
		res := Paced(ctx, paced, cfg.Step, 256, client.Command)
		share, err := cpu.Stop()
		if err != nil {
			say("CPU during the paced step: %v", err)
		}
		m := NewMeasured(0, res, 0)
		r.CommandsPaced = &PacedRun{Rate: round(paced, 1), Given: cfg.PacedRate > 0, Measured: m, CPU: share}
		say("commands paced at %.0f/s: p50 %.2f ms, p99 %.2f ms, %d errors", paced, m.Latency.P50, m.Latency.P99, m.Errors)
	}
	projector, err = StartService(ctx, "projector", filepath.Join(cfg.BinDir, "projector"), filepath.Join(cfg.LogDir, "projector-2.log"), projectorEnv)
	if err != nil {
		return err
	}
	services[0] = projector
	applied, took, err := caughtUp(ctx, client, projector.URL, time.Now())
	if err != nil {
		return err
	}
	r.Projection.LiveEventsPerSec, r.Projection.LiveEvents = round(applied/took.Seconds(), 1), int64(applied)
	say("projector caught up %.0f events in %s: %.0f events/s", applied, took.Round(time.Millisecond), r.Projection.LiveEventsPerSec)
	if err := client.CatchUp(ctx); err != nil {
		return err
	}
	// The whole system: the same load with the projector applying every event as it comes.
	res := ClosedLoop(ctx, bestClients, cfg.Step, client.Command)
	live := NewMeasured(bestClients, res, 0)
	r.CommandsLive = &live
	say("commands with the projector running, %d clients: %.0f/s, p99 %.2f ms", bestClients, live.Rate, live.Latency.P99)
	if err := client.CatchUp(ctx); err != nil {
		return err
	}
	for _, c := range cfg.QueryClients {
		hits0, misses0, err := client.CacheLookups(ctx)
		if err != nil {
			return err
		}
		stopProfile := profile(ctx, cfg, pprofAddrs, "query-api", "query-api", cfg.Step, c == slices.Max(cfg.QueryClients), say)
		res := ClosedLoop(ctx, c, cfg.Step, client.Query)
		stopProfile()
		hits, misses, err := client.CacheLookups(ctx)
		if err != nil {
			return err
		}
		m := NewMeasured(c, res, TPSAt(r.Baseline.SelectOnly, c))
		m.CacheHitRatio = round(Ratio(hits-hits0, hits-hits0+misses-misses0), 3)
		r.Queries = append(r.Queries, m)
		say("GET /orders/{id}, %d clients: %.0f/s, p99 %.2f ms (ratio to select-only %.2f), %.0f %% from the cache",
			c, m.Rate, m.Latency.P99, m.Ratio, 100*m.CacheHitRatio)
	}
	rate := live.Rate / 2
	if cfg.LagRate > 0 {
		rate = cfg.LagRate
	}
	if rate > 0 {
		// The lag step runs the whole system at once: profile each service through it.
		var waits []func()
		for _, service := range []string{"projector", "command-api", "query-api"} {
			waits = append(waits, profile(ctx, cfg, pprofAddrs, service, "lag-"+service, cfg.LagStep, true, say))
		}
		r.Lag = measureLag(ctx, client, rate, cfg.LagStep, true, projector.URL, pids(services), say)
		for _, wait := range waits {
			wait()
		}
	}
	if cfg.LightLagRate > 0 {
		// The step above may have left the projector behind (its rate can be more than the machine
		// keeps up with): the light step starts once every projection is idle again, so that it
		// measures its own load rather than the catch-up.
		if _, _, err := caughtUp(ctx, client, projector.URL, time.Now()); err != nil {
			return err
		}
		r.LagLight = measureLag(ctx, client, cfg.LightLagRate, cfg.LagStep, false, projector.URL, pids(services), say)
	}
	return nil
}

// measureLag paces commands at rate for d and measures the lag with X-Min-Position, with the CPU the
// machine and the processes in pids used meanwhile and the projector's (at projectorURL) reads of the
// log, and by polling when polling is set.
func measureLag(ctx context.Context, client *Client, rate float64, d time.Duration, polling bool, projectorURL string, pids map[string]int, say func(string, ...any)) *Lag {
	lag := &Lag{Rate: round(rate, 1)}
	cpu := startCPU(pids)
	readsBefore, readsErr := client.LogReads(ctx, projectorURL)
	res, waited, _ := client.Lag(ctx, rate, d, true)
	lag.Commands, lag.WithMinPosition = NewMeasured(0, res, 0), waited.Summary()
	var err error
	if lag.CPU, err = cpu.Stop(); err != nil {
		say("CPU during the lag step: %v", err)
	}
	if readsAfter, err := client.LogReads(ctx, projectorURL); err == nil && readsErr == nil {
		lag.LogReads = &LogReads{Requests: readsAfter.Requests - readsBefore.Requests,
			Reads: readsAfter.Reads - readsBefore.Reads, Batches: readsAfter.Batches - readsBefore.Batches}
	} else {
		say("the projector's log reads during the lag step: %v", errors.Join(readsErr, err))
	}
	say("lag at %.0f commands/s with X-Min-Position: p99 %.2f ms; commands p99 %.2f ms", rate, lag.WithMinPosition.P99, lag.Commands.Latency.P99)
	if polling {
		_, polled, notSeen := client.Lag(ctx, rate, d, false)
		summary := polled.Summary()
		lag.Polling, lag.PollingFails = &summary, notSeen
		say("lag at %.0f commands/s, polling: p99 %.2f ms", rate, lag.Polling.P99)
	}
	return lag
}

// caughtUp waits until every projection of the projector at url has applied the log, that is until
// the slowest projection's count of applied events has not moved for a second, and returns that
// count and the time from start to its last move.
func caughtUp(ctx context.Context, client *Client, url string, start time.Time) (float64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var (
		last     float64
		lastMove = start
	)
	for {
		n, err := client.EventsApplied(ctx, url)
		if err != nil {
			return 0, 0, fmt.Errorf("projector catching up: %w", err)
		}
		now := time.Now()
		switch {
		case n != last:
			last, lastMove = n, now
		case n > 0 && now.Sub(lastMove) >= time.Second:
			return last, lastMove.Sub(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("projector catching up: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pids names the processes whose CPU a step accounts for: this one (the load generator) and the
// services.
func pids(services []*Service) map[string]int {
	m := map[string]int{"bench": os.Getpid()}
	for _, s := range services {
		if !s.Stopped() {
			m[s.Name] = s.PID()
		}
	}
	return m
}

// stopService stops s, once, and keeps its peak RSS in r: the highest of all the processes that
// ran under its name.
func stopService(r *Results, s *Service) {
	if !s.Stopped() {
		if peak, err := s.PeakRSSMiB(); err == nil {
			r.PeakRSSMiB[s.Name] = max(r.PeakRSSMiB[s.Name], peak)
		}
	}
	s.Stop() // also for one that exited by itself: its log is still open
}

// profile, when cfg.ProfileDir is set and on is true, takes a CPU profile of service over the next d
// in the background, into <name>.cpu.pprof; the returned function waits for it.
func profile(ctx context.Context, cfg Config, addrs map[string]string, service, name string, d time.Duration, on bool, say func(string, ...any)) (wait func()) {
	if cfg.ProfileDir == "" || !on {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		path := filepath.Join(cfg.ProfileDir, name+".cpu.pprof")
		if err := fetchProfile(ctx, addrs[service], d, path); err != nil {
			say("profile of %s: %v", service, err)
			return
		}
		say("profile of %s: %s", service, path)
	}()
	return func() { <-done }
}

func fetchProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	secs := max(int(d/time.Second), 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// prepareBaseline creates the pgbench scripts' table and an event store in the baseline database,
// seeds both and analyzes them: on an empty, freshly analyzed table PostgreSQL plans sequential scans
// and the figures mean nothing.
func prepareBaseline(ctx context.Context, dbURL string, maxClients int) (*postgres.Store, *pgxpool.Pool, error) {
	if err := migrations.Up(ctx, dbURL, migrations.EventStore()); err != nil {
		return nil, nil, err
	}
	poolCfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, nil, err
	}
	poolCfg.MaxConns = int32(maxClients)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, nil, err
	}
	data := string(sampleEvent())
	for _, q := range []string{
		`CREATE TABLE bench_events (
			stream_id text NOT NULL, version bigint NOT NULL, data jsonb NOT NULL,
			UNIQUE (stream_id, version))`,
		// 1,000 streams of 10 events for the command script to read.
		`INSERT INTO bench_events SELECT 'seed-' || s, v, $1::jsonb FROM generate_series(1, 1000) s, generate_series(1, 10) v`,
		`INSERT INTO events (tx_id, event_id, stream_id, version, type, schema_version, data)
		 SELECT pg_current_xact_id()::text::bigint, gen_random_uuid(), 'seed-' || s, v, 'Seed', 1, $1::jsonb
		 FROM generate_series(1, 1000) s, generate_series(1, 10) v`,
		`ANALYZE`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = []any{data}
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			pool.Close()
			return nil, nil, fmt.Errorf("prepare the baseline: %w", err)
		}
	}
	store, err := postgres.Open(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return store, pool, nil
}

func createDatabase(ctx context.Context, admin *pgx.Conn, adminURL, name string) (string, error) {
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func dropDatabase(admin *pgx.Conn, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func environment(ctx context.Context, conn *pgx.Conn) (Environment, error) {
	e := Environment{Go: runtime.Version(), CPUs: runtime.NumCPU(), CPU: cpuModel(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		ServerSettings: map[string]string{}}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.OS += " " + strings.TrimSpace(string(b))
	}
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&e.PostgreSQL); err != nil {
		return e, fmt.Errorf("server version: %w", err)
	}
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_connections", "wal_level"} {
		var v string
		if err := conn.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
			return e, fmt.Errorf("show %s: %w", name, err)
		}
		e.ServerSettings[name] = v
	}
	return e, nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// sampleEvent is an event body of about 300 bytes, the size the baseline scripts insert.
func sampleEvent() []byte {
	return []byte(`{"sku":"SKU-123456","name":"Espresso beans, 1 kg, dark roast, whole","quantity":3,"unit_price_cents":1999,"at":"2026-11-23T10:00:00.123456Z","note":"padding to the size of a typical order event payload, about three hundred bytes in all, like the baseline scripts"}`)
}
