package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// Pgbench runs PostgreSQL's pgbench binary against one database.
type Pgbench struct {
	Bin string // path of the pgbench binary
	URL string // connection string of the database
}

// Init creates pgbench's own tables at scale (100,000 accounts per unit) for the select-only run.
func (p Pgbench) Init(ctx context.Context, scale int) error {
	_, err := p.run(ctx, "-i", "-q", "-s", strconv.Itoa(scale))
	return err
}

// Script runs the custom script file with clients connections for d, with prepared statements, and
// returns the transactions per second.
func (p Pgbench) Script(ctx context.Context, file string, clients int, d time.Duration) (PgbenchResult, error) {
	return p.measure(ctx, clients, d, "-f", file)
}

// SelectOnly runs the built-in select-only script (pgbench -S: one primary-key read of
// pgbench_accounts per transaction).
func (p Pgbench) SelectOnly(ctx context.Context, clients int, d time.Duration) (PgbenchResult, error) {
	return p.measure(ctx, clients, d, "-S")
}

// PgbenchResult is what one pgbench run reports.
type PgbenchResult struct {
	TPS       float64 `json:"tps"`
	LatencyMS float64 `json:"latency_avg_ms"`
	Failed    int     `json:"failed"`
}

func (p Pgbench) measure(ctx context.Context, clients int, d time.Duration, args ...string) (PgbenchResult, error) {
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	args = append(args, "-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 2)),
		"-T", strconv.Itoa(secs))
	out, err := p.run(ctx, args...)
	if err != nil {
		return PgbenchResult{}, err
	}
	return ParsePgbench(out)
}

func (p Pgbench) run(ctx context.Context, args ...string) ([]byte, error) {
	// The URL goes last, as the database name: libpq takes a connection URI there.
	cmd := exec.CommandContext(ctx, p.Bin, append(args, p.URL)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pgbench %v: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

var (
	tpsLine     = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	latencyLine = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	failedLine  = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
	// processedNone matches the summary of a run that finished no transaction.
	processedNone = regexp.MustCompile(`(?m)^number of transactions actually processed: 0$`)
)

// ParsePgbench reads the summary pgbench prints at the end of a run (PostgreSQL 14 and later).
func ParsePgbench(out []byte) (PgbenchResult, error) {
	m := tpsLine.FindSubmatch(out)
	if m == nil && processedNone.Match(out) {
		// A run too short for its clients to connect (an overloaded machine) prints no rate.
		return PgbenchResult{}, nil
	}
	if m == nil {
		return PgbenchResult{}, fmt.Errorf("pgbench printed no tps line: %q", lastLines(out, 5))
	}
	var r PgbenchResult
	r.TPS, _ = strconv.ParseFloat(string(m[1]), 64) // the pattern admits only numbers
	if m := latencyLine.FindSubmatch(out); m != nil {
		r.LatencyMS, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := failedLine.FindSubmatch(out); m != nil {
		r.Failed, _ = strconv.Atoi(string(m[1]))
	}
	return r, nil
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(bytes.Join(lines[max(len(lines)-n, 0):], []byte("\n")))
}
