package projections_test

import (
	"bufio"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/projections"
)

// BenchmarkRebuild measures blue-green rebuilds of each projection from a pre-loaded log, in events
// per second, and the process's peak resident memory, which must not grow with the log. The log
// holds REBUILD_BENCH_EVENTS events (default 100000) of random order histories, COPied into the
// event store directly (ordergen.Preload) so that loading takes seconds rather than minutes.
// REBUILD_BENCH_BATCH sets Config.RebuildBatchSize (default: the runner's).
// `make bench` measures the same with the projector binary.
//
//	REBUILD_BENCH_EVENTS=1000000 make test ARGS='-run=NONE -bench=Rebuild -benchtime=1x ./projections/'
func BenchmarkRebuild(b *testing.B) {
	n, batch := envCount(b, "REBUILD_BENCH_EVENTS", 100_000), envCount(b, "REBUILD_BENCH_BATCH", 0)
	e := newEnv(b)
	loaded, err := ordergen.Preload(timeout(b, 30*time.Minute), e.pool, rand.New(rand.NewPCG(1, 2)), n, time.Now().Add(-24*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("pre-loaded %d events", loaded)
	for _, p := range projections.All() {
		b.Run(p.Name(), func(b *testing.B) {
			cfg := projections.Config{Store: e.store, DB: e.pool, Projections: []projections.Projection{p}, Owner: "bench", RebuildBatchSize: batch,
				Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
			var elapsed time.Duration
			for b.Loop() {
				ctx := timeout(b, 30*time.Minute)
				if _, err := projections.RequestRebuild(ctx, e.pool, p, "bench", false); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if ok, err := projections.RunRebuild(ctx, cfg, p.Name()); !ok || err != nil {
					b.Fatalf("rebuild: %v, %v", ok, err)
				}
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(loaded)*float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(peakRSS(b), "peak-RSS-MiB")
		})
	}
}

// peakRSS returns the process's peak resident set size in MiB (VmHWM), or -1 where /proc does not
// tell.
func peakRSS(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				b.Logf("VmHWM: %v", err)
				return -1
			}
			return float64(kb) / 1024
		}
	}
	return -1
}

// envCount is the positive number in the environment variable name, or def when it is unset.
func envCount(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// BenchmarkLiveBatch measures what a live batch of one event costs each projection: the time from
// its events in hand to its checkpoint committed (ns/op), and its ratio to a round trip to the
// server, a `SELECT 1` timed in the same run on the same pool (the median of 2,000). Live traffic at
// a low rate brings batches of one event, and what they cost is mostly round trips.
//
//	make test ARGS='-run=NONE -bench=LiveBatch ./projections/'
func BenchmarkLiveBatch(b *testing.B) {
	e := newEnv(b)
	if _, err := ordergen.Preload(timeout(b, time.Minute), e.pool, rand.New(rand.NewPCG(3, 4)), 5000, time.Now().Add(-time.Hour)); err != nil {
		b.Fatal(err)
	}
	log, err := e.store.ReadAll(timeout(b, time.Minute), eventstore.Position{}, 10_000)
	if err != nil {
		b.Fatal(err)
	}
	rtt := roundTrip(b, e.pool)
	b.Logf("%d events; a round trip (SELECT 1) takes %s", len(log), rtt)
	for _, p := range projections.All() {
		b.Run(p.Name(), func(b *testing.B) {
			resetProjection(b, e.pool, p)
			commit, err := projections.BatchCommitter(projections.Config{Store: e.store, DB: e.pool}, p)
			if err != nil {
				b.Fatal(err)
			}
			ctx := timeout(b, 10*time.Minute)
			next, from := 0, eventstore.Position{}
			for b.Loop() {
				if next == len(log) {
					b.StopTimer()
					resetProjection(b, e.pool, p)
					next, from = 0, eventstore.Position{}
					b.StartTimer()
				}
				if err := commit(ctx, from, log[next:next+1]); err != nil {
					b.Fatal(err)
				}
				from = log[next].Position
				next++
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(rtt), "ratio-to-round-trip")
		})
	}
}

// roundTrip is the median time of a `SELECT 1` through pool.
func roundTrip(b *testing.B, pool *pgxpool.Pool) time.Duration {
	times := make([]time.Duration, 2000)
	for i := range times {
		start := time.Now()
		if _, err := pool.Exec(timeout(b, 5*time.Second), `SELECT 1`); err != nil {
			b.Fatal(err)
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// resetProjection empties p's tables and puts its checkpoint at the start of the log.
func resetProjection(b *testing.B, pool *pgxpool.Pool, p projections.Projection) {
	ctx := timeout(b, time.Minute)
	tables := make([]string, len(p.Tables()))
	for i, t := range p.Tables() {
		tables[i] = pgx.Identifier{t}.Sanitize()
	}
	if _, err := pool.Exec(ctx, `TRUNCATE `+strings.Join(tables, ", ")); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, schema_version) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET position = '0:0', commit_pos = 0, prepare_pos = 0`, p.Name(), p.SchemaVersion()); err != nil {
		b.Fatal(err)
	}
}
