package bench

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var l Latencies
	for i := 100; i >= 1; i-- { // recorded out of order
		l.Record(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 50 * time.Millisecond},
		{95, 95 * time.Millisecond},
		{99, 99 * time.Millisecond},
		{99.9, 100 * time.Millisecond},
		{100, 100 * time.Millisecond},
		{0.1, 1 * time.Millisecond},
	} {
		if got := l.Percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	var one Latencies
	one.Record(1500 * time.Microsecond)
	if s := one.Summary(); s != (Summary{Count: 1, P50: 1.5, P95: 1.5, P99: 1.5, Max: 1.5}) {
		t.Errorf("summary of one = %+v", s)
	}
	var none Latencies
	if s := none.Summary(); s != (Summary{}) {
		t.Errorf("summary of none = %+v, want zero", s)
	}
	var merged Latencies
	merged.Merge(&one)
	merged.Merge(&l)
	// Of 101, rank ceil(0.5% of 101) = 1 and rank ceil(1% of 101) = 2.
	if merged.Len() != 101 || merged.Percentile(0.5) != time.Millisecond || merged.Percentile(1) != 1500*time.Microsecond {
		t.Errorf("merged: %d durations, p0.5 %v, p1 %v", merged.Len(), merged.Percentile(0.5), merged.Percentile(1))
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct{ ours, base, want float64 }{
		{800, 1000, 0.8},
		{2000, 1000, 2},
		{1, 3, 0.333},
		{100, 0, 0}, // no baseline measured
	} {
		if got := Ratio(tc.ours, tc.base); got != tc.want {
			t.Errorf("Ratio(%v, %v) = %v, want %v", tc.ours, tc.base, got, tc.want)
		}
	}
}

// TestClosedLoop counts successes and failures apart and keeps the first error.
func TestClosedLoop(t *testing.T) {
	boom := errors.New("boom")
	res := ClosedLoop(context.Background(), 3, 50*time.Millisecond, func(ctx context.Context, w int) error {
		if w < 0 || w >= 3 {
			t.Errorf("worker %d out of range", w)
		}
		time.Sleep(time.Millisecond)
		if w == 0 {
			return boom
		}
		return nil
	})
	if res.Ops == 0 || res.Errors == 0 || !errors.Is(res.FirstErr, boom) {
		t.Errorf("ops %d, errors %d, first error %v", res.Ops, res.Errors, res.FirstErr)
	}
	if res.Latencies.Len() != res.Ops {
		t.Errorf("%d latencies for %d successes", res.Latencies.Len(), res.Ops)
	}
	if res.Rate() <= 0 {
		t.Errorf("rate %v", res.Rate())
	}
}

// TestPacedOverload shows a target slower than the pace as errors, not as a lower rate.
func TestPacedOverload(t *testing.T) {
	release := make(chan struct{})
	done := make(chan LoadResult)
	go func() {
		done <- Paced(context.Background(), 1000, 100*time.Millisecond, 2, func(ctx context.Context, w int) error {
			<-release
			return nil
		})
	}()
	time.Sleep(150 * time.Millisecond)
	close(release)
	res := <-done
	if res.Ops != 2 || res.Errors == 0 || !errors.Is(res.FirstErr, errOverloaded) {
		t.Errorf("ops %d (want the 2 in flight), errors %d, first error %v", res.Ops, res.Errors, res.FirstErr)
	}
}

func TestParsePgbench(t *testing.T) {
	out := []byte(`pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: bench/insert.sql
scaling factor: 1
query mode: prepared
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 27035
number of failed transactions: 3 (0.011%)
latency average = 0.591 ms
initial connection time = 21.507 ms
tps = 13534.204128 (without initial connection time)
`)
	got, err := ParsePgbench(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (PgbenchResult{TPS: 13534.204128, LatencyMS: 0.591, Failed: 3}); got != want {
		t.Errorf("ParsePgbench = %+v, want %+v", got, want)
	}
	none := []byte("duration: 2 s\nnumber of transactions actually processed: 0\nnumber of failed transactions: 0 (NaN%)\n")
	if got, err := ParsePgbench(none); err != nil || got != (PgbenchResult{}) {
		t.Errorf("a run that processed nothing: %+v, %v; want zero figures", got, err)
	}
	if _, err := ParsePgbench([]byte("pgbench: error: connection refused\n")); err == nil {
		t.Error("output without a tps line: no error")
	}
}

func TestMetricSamples(t *testing.T) {
	text := `# HELP projector_events_applied_total Log events committed through the projection, each once.
# TYPE projector_events_applied_total counter
projector_events_applied_total{projection="orders.v1"} 1200
projector_events_applied_total{projection="audit_log.v1"} 1.5e3
projector_events_applied_total_other 99
projector_batch_size_sum 7
`
	got, err := metricSamples(strings.NewReader(text), "projector_events_applied_total")
	if err != nil || !slices.Equal(got, []float64{1200, 1500}) {
		t.Errorf("metricSamples = %v, %v; want [1200 1500]", got, err)
	}
	if got, err := metricSamples(strings.NewReader(text), `projector_events_applied_total{projection="audit_log.v1"}`); err != nil || !slices.Equal(got, []float64{1500}) {
		t.Errorf("one label set: %v, %v; want [1500]", got, err)
	}
	if got, err := metricSamples(strings.NewReader("plain_total 4\n"), "plain_total"); err != nil || !slices.Equal(got, []float64{4}) {
		t.Errorf("unlabelled: %v, %v; want [4]", got, err)
	}
}

func TestParseVmHWM(t *testing.T) {
	status := []byte("Name:\tquery-api\nVmPeak:\t 1300000 kB\nVmHWM:\t   47104 kB\nVmRSS:\t   40000 kB\n")
	if got, err := parseVmHWM(status); err != nil || got != 46 {
		t.Errorf("parseVmHWM = %v, %v; want 46 MiB", got, err)
	}
	if _, err := parseVmHWM([]byte("Name:\tx\n")); err == nil {
		t.Error("no VmHWM line: no error")
	}
	self, err := PeakRSSMiB(os.Getpid())
	if err != nil || self <= 0 {
		t.Errorf("PeakRSSMiB(self) = %v, %v", self, err)
	}
}

// TestOutput prints every section with its ratio and writes JSON that reads back the same.
func TestOutput(t *testing.T) {
	r := &Results{
		Started: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), Mode: "quick", StepSeconds: 2,
		Environment: Environment{Go: "go1.26", PostgreSQL: "15.18", CPU: "EPYC", CPUs: 2, OS: "linux/amd64",
			ServerSettings: map[string]string{"fsync": "off", "synchronous_commit": "off"}},
		Baseline: Baseline{
			Insert:     []Point{{Clients: 1, PgbenchResult: PgbenchResult{TPS: 10000}}},
			Command:    []Point{{Clients: 1, PgbenchResult: PgbenchResult{TPS: 4000}}},
			SelectOnly: []Point{{Clients: 8, PgbenchResult: PgbenchResult{TPS: 30000}}},
		},
		Append:   []Measured{{Clients: 1, Rate: 8123, Baseline: 10000, Ratio: 0.812}},
		Commands: []Measured{{Clients: 1, Rate: 1000, Baseline: 4000, Ratio: 0.25, Latency: Summary{P99: 3.25}}},
		Queries:  []Measured{{Clients: 8, Rate: 15000, Baseline: 30000, Ratio: 0.5}},
		CommandsPaced: &PacedRun{Rate: 500, Measured: Measured{Latency: Summary{P99: 12.5}},
			CPU: &CPUShare{Cores: 2, Busy: 1.5, Processes: map[string]float64{"bench": 0.25}, Rest: 1.25, Pressure: new(0.375)}},
		Lag:        &Lag{Rate: 500, WithMinPosition: Summary{Count: 10, P50: 4, P99: 9.5}},
		Projection: Projection{LiveEventsPerSec: 3000, RebuildNote: "skipped"},
		PeakRSSMiB: map[string]float64{"query-api": 40.5, "command-api": 50},
	}
	var table strings.Builder
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"fsync=off synchronous_commit=off", "10,000", "8,123", "0.81", "3.25", "15,000", "0.50",
		"p99 9.50 ms", "rebuild: not measured (skipped)", "command-api 50.0 MiB, query-api 40.5 MiB",
		"p99 12.50 ms", "1.50 busy: load generator 0.25", "some task waited for a core 38 % of the time",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	path, err := r.WriteJSON(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, "20261123T120000Z.json") {
		t.Errorf("file %s, want it named after the start", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Results
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Append[0].Ratio != 0.812 || back.Lag.WithMinPosition.P99 != 9.5 || back.PeakRSSMiB["query-api"] != 40.5 {
		t.Errorf("read back %+v", back)
	}
}

// TestOutputRebuild prints the rebuild with each projection's rate and the projector's peak RSS.
func TestOutputRebuild(t *testing.T) {
	r := &Results{Mode: "full", PeakRSSMiB: map[string]float64{}, Projection: Projection{Rebuild: &Rebuild{
		Events: 1_000_003, LoadEventsPerSec: 70_000, Seconds: 61.5, PeakRSSMiB: 48.25,
		Projections: []RebuiltProjection{
			{Name: "audit_log", Events: 1_000_003, Seconds: 20, EventsPerSec: 50_000},
			{Name: "orders", Events: 1_000_003, Seconds: 8, EventsPerSec: 125_000},
		},
	}}}
	var table strings.Builder
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"rebuild of 1,000,003 events (projector rebuild --all, 61.5 s, peak RSS 48.2 MiB; pre-loaded with COPY at 70,000 events/s)",
		"audit_log              50,000 events/s (20.0 s)", "orders                125,000 events/s (8.0 s)",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if strings.Contains(table.String(), "not measured") {
		t.Errorf("a measured rebuild printed as not measured:\n%s", table.String())
	}
}
