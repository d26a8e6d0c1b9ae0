package projections_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/projections"
	"github.com/orderflow/orderflow/projections/projectiontest"
)

// BenchmarkRebuild measures blue-green rebuilds of each projection from a pre-loaded log, in events
// per second, and the process's peak resident memory, which must not grow with the log. The log
// holds REBUILD_BENCH_EVENTS events (default 100000) of random order histories, COPied into the
// event store directly so that loading takes seconds rather than minutes.
//
//	REBUILD_BENCH_EVENTS=1000000 make test ARGS='-run=NONE -bench=Rebuild -benchtime=1x ./projections/'
func BenchmarkRebuild(b *testing.B) {
	n := 100_000
	if s := os.Getenv("REBUILD_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("REBUILD_BENCH_EVENTS=%q: want a positive number", s)
		}
	}
	e := newEnv(b)
	loaded := preload(b, e, n)
	b.Logf("pre-loaded %d events", loaded)
	for _, p := range projections.All() {
		b.Run(p.Name(), func(b *testing.B) {
			cfg := projections.Config{Store: e.store, DB: e.pool, Projections: []projections.Projection{p}, Owner: "bench",
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

// preload COPies about n events of random order histories into the event store, all in one
// transaction as far as the log is concerned (tx_id 1), and returns how many it wrote. Rows are
// generated as COPY asks for them, so the load holds one order in memory at a time.
func preload(b *testing.B, e *env, n int) int64 {
	b.Helper()
	src := &historySource{rng: rand.New(rand.NewPCG(1, 2)), left: n, start: time.Now().Add(-24 * time.Hour)}
	copied, err := e.pool.CopyFrom(timeout(b, 30*time.Minute), pgx.Identifier{"events"},
		[]string{"tx_id", "event_id", "stream_id", "version", "type", "schema_version", "data", "metadata", "recorded_at"}, src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.pool.Exec(timeout(b, 5*time.Minute), `ANALYZE events`); err != nil {
		b.Fatal(err)
	}
	return copied
}

// historySource is a pgx.CopyFromSource of random order histories.
type historySource struct {
	rng     *rand.Rand
	left    int
	start   time.Time
	pending []eventstore.EventData
	stream  string
	version int
	row     []any
	err     error
}

func (s *historySource) Next() bool {
	if len(s.pending) == 0 {
		if s.left <= 0 {
			return false
		}
		id := uuid.New()
		events := projectiontest.History(s.rng, id, fmt.Sprint("c", s.rng.IntN(10_000)), []string{"EUR", "USD"}[s.rng.IntN(2)], s.start)
		s.pending, s.stream, s.version = make([]eventstore.EventData, 0, len(events)), projectiontest.Stream(id), 0
		for _, ev := range events {
			typ, sv, data, err := domain.MarshalEvent(ev)
			if err != nil {
				s.err = err
				return false
			}
			s.pending = append(s.pending, eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: sv, Data: data})
		}
		s.start = s.start.Add(time.Second)
	}
	ev := s.pending[0]
	s.pending = s.pending[1:]
	s.version++
	s.left--
	meta, err := json.Marshal(eventstore.Metadata{Actor: "bench", Command: "Bench"})
	if err != nil {
		s.err = err
		return false
	}
	s.row = []any{int64(1), ev.ID, s.stream, int64(s.version), ev.Type, int32(ev.SchemaVersion), string(ev.Data), string(meta), s.start}
	return true
}

func (s *historySource) Values() ([]any, error) { return s.row, nil }
func (s *historySource) Err() error             { return s.err }

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
