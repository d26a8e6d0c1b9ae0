package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Results are one run's figures, as printed and as written to JSON.
type Results struct {
	Started     time.Time   `json:"started"`
	Mode        string      `json:"mode"` // "quick" or "full"
	StepSeconds float64     `json:"step_seconds"`
	Environment Environment `json:"environment"`
	Baseline    Baseline    `json:"baseline"`
	Append      []Measured  `json:"append"`   // the event store alone, in process; baseline: Insert
	Commands    []Measured  `json:"commands"` // over HTTP, projector stopped; baseline: Command
	// CommandsPaced is commands paced at half the 32-client rate, with the projector stopped.
	CommandsPaced *PacedRun `json:"commands_paced,omitempty"`
	// CommandsLive is the best client count's command run again with the projector running: the
	// whole system's rate, half of which the lag runs go at.
	CommandsLive *Measured  `json:"commands_with_projector,omitempty"`
	Queries      []Measured `json:"queries"` // GET /orders/{id}; baseline: SelectOnly
	Lag          *Lag       `json:"lag,omitempty"`
	// LagLight is the lag with X-Min-Position under a light command load (--light-lag-rate).
	LagLight   *Lag       `json:"lag_light,omitempty"`
	Projection Projection `json:"projection"`
	// PeakRSSMiB is each service's peak resident set (VmHWM) over the whole run.
	PeakRSSMiB map[string]float64 `json:"peak_rss_mib"`
	Notes      []string           `json:"notes,omitempty"`
}

// Environment is what the figures depend on besides the code.
type Environment struct {
	Go             string            `json:"go"`
	PostgreSQL     string            `json:"postgresql"`
	CPU            string            `json:"cpu"`
	CPUs           int               `json:"cpus"`
	OS             string            `json:"os"`
	ServerSettings map[string]string `json:"server_settings"`
}

// Baseline is what PostgreSQL does on its own, measured with pgbench in the same run.
type Baseline struct {
	// Insert: one transaction inserting one event-shaped row (bench/insert.sql).
	Insert []Point `json:"insert"`
	// Command: read a 10-event stream and insert one event, in one transaction (bench/command.sql).
	Command []Point `json:"command"`
	// SelectOnly: pgbench -S, one primary-key read per transaction.
	SelectOnly []Point `json:"select_only"`
}

// Point is a pgbench figure at a client count.
type Point struct {
	Clients int `json:"clients"`
	PgbenchResult
}

// TPSAt returns the transactions per second at clients, or 0 when not measured.
func TPSAt(points []Point, clients int) float64 {
	for _, p := range points {
		if p.Clients == clients {
			return p.TPS
		}
	}
	return 0
}

// Measured is one of our figures at a client count, next to its baseline.
type Measured struct {
	Clients  int     `json:"clients"`
	Rate     float64 `json:"per_second"`
	Errors   int     `json:"errors"`
	FirstErr string  `json:"first_error,omitempty"`
	Latency  Summary `json:"latency"`
	Baseline float64 `json:"baseline_tps"`
	Ratio    float64 `json:"ratio"` // Rate / Baseline; 0 when there is no baseline
	// RatioInsert, for commands, is the ratio to the one-row insert baseline as well.
	RatioInsert float64 `json:"ratio_to_insert,omitempty"`
	// CacheHitRatio, for queries, is the share of reads the query API answered from its cache.
	CacheHitRatio float64 `json:"cache_hit_ratio,omitempty"`
}

// NewMeasured turns a load's result into a figure with its ratio to baseline.
func NewMeasured(clients int, r LoadResult, baseline float64) Measured {
	m := Measured{Clients: clients, Rate: round(r.Rate(), 1), Errors: r.Errors, Latency: r.Latencies.Summary(),
		Baseline: baseline, Ratio: Ratio(r.Rate(), baseline)}
	if r.FirstErr != nil {
		m.FirstErr = r.FirstErr.Error()
	}
	return m
}

// Ratio is ours/baseline to three decimals, or 0 when there is no baseline.
func Ratio(ours, baseline float64) float64 {
	if baseline <= 0 {
		return 0
	}
	return round(ours/baseline, 3)
}

func round(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}

// PacedRun is a load paced at Rate per second.
type PacedRun struct {
	Rate float64 `json:"paced_per_second"`
	// Given: the rate was --paced-rate's, not half the 32-client rate.
	Given bool `json:"given,omitempty"`
	Measured
	// CPU is what the machine spent meanwhile, and on what.
	CPU *CPUShare `json:"cpu,omitempty"`
}

// TPSOf is the rate of the run with clients in rows, or otherwise.
func TPSOf(rows []Measured, clients int, otherwise float64) float64 {
	for _, m := range rows {
		if m.Clients == clients {
			return m.Rate
		}
	}
	return otherwise
}

// Lag is the end-to-end lag at a paced command rate: from a command's 2xx to the query API
// showing its effect.
type Lag struct {
	Rate     float64  `json:"commands_per_second"` // the pace asked for: half of CommandsLive's rate unless set
	Commands Measured `json:"commands"`            // the commands themselves at that pace
	// WithMinPosition: one GET with X-Min-Position, which waits for the projection.
	WithMinPosition Summary `json:"with_min_position"`
	// Polling: GETs without it, repeated until the new version shows (the cache included).
	Polling      *Summary `json:"polling,omitempty"` // not measured under light load
	PollingFails int      `json:"polling_not_seen"`
	// CPU is what the machine spent during the X-Min-Position run, and on what.
	CPU *CPUShare `json:"cpu,omitempty"`
	// LogReads is how the projector read the log meanwhile.
	LogReads *LogReads `json:"log_reads,omitempty"`
}

// LogReads counts the projector's reads of the log over a step, from its metrics: the reads its
// projections asked for, those that went to the event store (the rest were shared), and the batches
// they committed, summed over the projections.
type LogReads struct {
	Requests float64 `json:"requests"`
	Reads    float64 `json:"reads"`
	Batches  float64 `json:"batches"`
}

// Projection is the projector's throughput.
type Projection struct {
	// LiveEventsPerSec is the events the projector applied per second, summed over its
	// projections, while it caught up the LiveEvents the command steps wrote with it stopped: its
	// live path (not a rebuild) at full speed, from start-up to the last event.
	LiveEventsPerSec float64 `json:"live_events_per_second"`
	LiveEvents       int64   `json:"live_events"`
	// Rebuild is empty when it was not measured; RebuildNote says why.
	Rebuild     *Rebuild `json:"rebuild,omitempty"`
	RebuildNote string   `json:"rebuild_note,omitempty"`
}

// Rebuild is `projector rebuild --all` over a pre-loaded log.
type Rebuild struct {
	Events int64 `json:"events"` // in the log
	// LoadEventsPerSec is the pre-load's rate: COPY into the event store, ANALYZE included.
	LoadEventsPerSec float64 `json:"load_events_per_second"`
	// Seconds is the whole command's run, the projections rebuilt one after the other.
	Seconds     float64             `json:"seconds"`
	PeakRSSMiB  float64             `json:"projector_peak_rss_mib"`
	Projections []RebuiltProjection `json:"projections"`
}

// RebuiltProjection is one projection's rebuild, as the projector recorded it: the events it read
// and the time from taking the rebuild on to switching to the new copy.
type RebuiltProjection struct {
	Name         string  `json:"name"`
	Events       int64   `json:"events"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_second"`
}

// WriteJSON writes the results to dir/<started>.json and returns the file's path.
func (r *Results) WriteJSON(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.Started.UTC().Format("20060102T150405Z")+".json")
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteTable prints the results as aligned tables.
func (r *Results) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	e := r.Environment
	fmt.Fprintf(w, "orderflow benchmark, %s run, %s per step, started %s\n", r.Mode, seconds(r.StepSeconds), r.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "%s; PostgreSQL %s; %d x %s; %s\n", e.Go, e.PostgreSQL, e.CPUs, e.CPU, e.OS)
	fmt.Fprintf(w, "server settings (shared by the baseline and our figures): %s\n\n", settings(e.ServerSettings))

	p("baseline (pgbench)\tclients\tinsert tps\tcommand tps\tselect-only tps\t")
	for _, c := range clientCounts(r.Baseline.Insert, r.Baseline.Command, r.Baseline.SelectOnly) {
		p("\t%d\t%s\t%s\t%s\t", c, num(TPSAt(r.Baseline.Insert, c)), num(TPSAt(r.Baseline.Command, c)), num(TPSAt(r.Baseline.SelectOnly, c)))
	}
	p("\t\t\t\t\t")
	section := func(title, ratioOf string, rows []Measured) {
		p("%s\tclients\tper s\tp50 ms\tp95 ms\tp99 ms\terrors\t%s\tratio\t", title, ratioOf)
		for _, m := range rows {
			p("\t%d\t%s\t%.2f\t%.2f\t%.2f\t%d\t%s\t%.2f\t", m.Clients, num(m.Rate), m.Latency.P50, m.Latency.P95, m.Latency.P99, m.Errors, num(m.Baseline), m.Ratio)
		}
		p("\t\t\t\t\t\t\t\t\t")
	}
	section("append (event store)", "insert tps", r.Append)
	section("commands (HTTP)", "command tps", r.Commands)
	section("GET /orders/{id}", "select-only tps", r.Queries)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Queries) > 0 {
		fmt.Fprint(w, "GET /orders/{id} answered from the query API's cache:")
		for _, m := range r.Queries {
			fmt.Fprintf(w, " %.0f %% at %d clients;", 100*m.CacheHitRatio, m.Clients)
		}
		fmt.Fprintln(w, " the rest read PostgreSQL")
	}

	if p := r.CommandsPaced; p != nil {
		why := "half the 32-client rate"
		if p.Given {
			why = "--paced-rate"
		}
		fmt.Fprintf(w, "commands paced at %s/s (%s), projector stopped: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, %d errors\n",
			num(p.Rate), why, p.Latency.P50, p.Latency.P95, p.Latency.P99, p.Errors)
		writeCPU(w, p.CPU)
	}
	if m := r.CommandsLive; m != nil {
		fmt.Fprintf(w, "commands with the projector running, %d clients: %s/s, p50 %.2f ms, p99 %.2f ms, %d errors\n",
			m.Clients, num(m.Rate), m.Latency.P50, m.Latency.P99, m.Errors)
	}
	for _, l := range []*Lag{r.Lag, r.LagLight} {
		if l == nil {
			continue
		}
		fmt.Fprintf(w, "lag at %s commands/s: commands p50 %.2f ms, p99 %.2f ms, %d errors\n",
			num(l.Rate), l.Commands.Latency.P50, l.Commands.Latency.P99, l.Commands.Errors)
		fmt.Fprintf(w, "  2xx to visible, X-Min-Position: p50 %.2f ms, p99 %.2f ms (%d samples)\n", l.WithMinPosition.P50, l.WithMinPosition.P99, l.WithMinPosition.Count)
		if p := l.Polling; p != nil {
			fmt.Fprintf(w, "  2xx to visible, polling:        p50 %.2f ms, p99 %.2f ms (%d samples, %d never seen)\n", p.P50, p.P99, p.Count, l.PollingFails)
		}
		writeCPU(w, l.CPU)
		if lr := l.LogReads; lr != nil && lr.Batches > 0 {
			fmt.Fprintf(w, "  projector meanwhile: %s batches, %s reads of the log asked for, %s sent to the store (%.2f per batch)\n",
				num(lr.Batches), num(lr.Requests), num(lr.Reads), lr.Reads/lr.Batches)
		}
	}
	fmt.Fprintf(w, "projection: live %s events/s applied (all projections, catching up %s events written while it was stopped)\n",
		num(r.Projection.LiveEventsPerSec), num(float64(r.Projection.LiveEvents)))
	if rb := r.Projection.Rebuild; rb != nil {
		fmt.Fprintf(w, "  rebuild of %s events (projector rebuild --all, %.1f s, peak RSS %.1f MiB; pre-loaded with COPY at %s events/s):\n",
			num(float64(rb.Events)), rb.Seconds, rb.PeakRSSMiB, num(rb.LoadEventsPerSec))
		for _, p := range rb.Projections {
			fmt.Fprintf(w, "    %-18s %10s events/s (%.1f s)\n", p.Name, num(p.EventsPerSec), p.Seconds)
		}
	} else {
		fmt.Fprintf(w, "  rebuild: not measured (%s)\n", r.Projection.RebuildNote)
	}
	fmt.Fprintf(w, "peak RSS: %s\n", rss(r.PeakRSSMiB))
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func clientCounts(sets ...[]Point) []int {
	var out []int
	seen := map[int]bool{}
	for _, s := range sets {
		for _, p := range s {
			if !seen[p.Clients] {
				seen[p.Clients] = true
				out = append(out, p.Clients)
			}
		}
	}
	return out
}

// num prints a rate without decimals and with thousands separators, "-" for none.
func num(x float64) string {
	if x <= 0 {
		return "-"
	}
	s := fmt.Sprintf("%.0f", x)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func seconds(s float64) string { return (time.Duration(s * float64(time.Second))).String() }

func settings(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

func rss(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.1f MiB", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// writeCPU writes the lines under a step that tell what the machine spent meanwhile.
func writeCPU(w io.Writer, c *CPUShare) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "  CPU meanwhile, in cores of %d: %.2f busy: %s, PostgreSQL and the rest %.2f\n", c.Cores, c.Busy, cpuProcesses(c.Processes), c.Rest)
	if c.Pressure != nil {
		fmt.Fprintf(w, "  some task waited for a core %.0f %% of the time (/proc/pressure/cpu)\n", 100**c.Pressure)
	}
}

// cpuProcesses lists each process's cores, the load generator first.
func cpuProcesses(procs map[string]float64) string {
	var parts []string
	if c, ok := procs["bench"]; ok {
		parts = append(parts, fmt.Sprintf("load generator %.2f", c))
	}
	for _, n := range slices.Sorted(maps.Keys(procs)) {
		if n != "bench" {
			parts = append(parts, fmt.Sprintf("%s %.2f", n, procs[n]))
		}
	}
	return strings.Join(parts, ", ")
}
