// Command bench measures the platform next to what its PostgreSQL server does on its own, and prints
// one table and writes it as JSON (see package internal/bench and bench/README.md). It is run by
// scripts/bench.sh (make bench), which starts a throwaway server and builds the services:
//
//	bench --database-url postgres://... --bin-dir DIR [--quick] [--step 10s] [--clients 1,8,32,64]
//
// Everything it starts listens on 127.0.0.1 and is stopped by PID before it exits.
//
// Exit status: 0 when the run completed, 1 when it failed, 2 for bad flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/internal/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var (
		cfg          bench.Config
		quick        = fs.Bool("quick", false, "a short run (under two minutes): 2 s steps, pgbench scale 1, a rebuild of 50,000 events")
		clients      = fs.String("clients", "1,8,32,64", "client counts of the baseline, append and command runs")
		queryClients = fs.String("query-clients", "8,32,64", "client counts of the GET /orders/{id} runs")
		step         = fs.Duration("step", 0, "duration of each measurement (default 10s, 2s with --quick)")
		lagStep      = fs.Duration("lag-step", 0, "duration of each lag measurement (default 10s, 3s with --quick)")
		scale        = fs.Int("pgbench-scale", 0, "pgbench -i scale for the select-only baseline (default 10, 1 with --quick)")
		timeout      = fs.Duration("timeout", 30*time.Minute, "ends the whole run")
	)
	fs.StringVar(&cfg.AdminURL, "database-url", "", "PostgreSQL server URL of a user that may create databases (required)")
	fs.StringVar(&cfg.BinDir, "bin-dir", "", "directory holding the command-api, projector and query-api binaries (required)")
	fs.StringVar(&cfg.Pgbench, "pgbench", "/usr/lib/postgresql/15/bin/pgbench", "pgbench binary")
	fs.StringVar(&cfg.ScriptDir, "scripts", "bench", "directory of the pgbench scripts")
	fs.StringVar(&cfg.OutDir, "out", filepath.Join("bench", "results"), "directory for the JSON result")
	fs.StringVar(&cfg.LogDir, "logs", filepath.Join(os.TempDir(), "orderflow-bench"), "directory for the services' logs")
	fs.Float64Var(&cfg.PacedRate, "paced-rate", 0, "commands per second of the paced command run (default: half the 32-client rate)")
	fs.Float64Var(&cfg.LagRate, "lag-rate", 0, "commands per second of the lag runs (default: half the command rate with the projector running)")
	fs.Float64Var(&cfg.LightLagRate, "light-lag-rate", 100, "commands per second of one more lag run under light load (0 skips it)")
	fs.StringVar(&cfg.ProfileDir, "profile-dir", "", "keep CPU profiles of the busiest command and query steps, and of every service through the lag step, here (pprof on)")
	fs.IntVar(&cfg.RebuildEvents, "rebuild-events", 1_000_000, "events pre-loaded for the projection rebuild measurement (50000 with --quick; 0 skips it)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}

	cfg.Mode, cfg.Step, cfg.LagStep, cfg.PgbenchScale = "full", 10*time.Second, 10*time.Second, 10
	if *quick {
		cfg.Mode, cfg.Step, cfg.LagStep, cfg.PgbenchScale = "quick", 2*time.Second, 3*time.Second, 1
	}
	if *quick && !isSet(fs, "rebuild-events") {
		cfg.RebuildEvents = 50_000
	}
	if *step > 0 {
		cfg.Step = *step
	}
	if *lagStep > 0 {
		cfg.LagStep = *lagStep
	}
	if *scale > 0 {
		cfg.PgbenchScale = *scale
	}
	var err error
	if cfg.Clients, err = counts(*clients); err != nil {
		fmt.Fprintf(os.Stderr, "bench: --clients: %v\n", err)
		return 2
	}
	if cfg.QueryClients, err = counts(*queryClients); err != nil {
		fmt.Fprintf(os.Stderr, "bench: --query-clients: %v\n", err)
		return 2
	}
	if cfg.RebuildEvents < 0 {
		fmt.Fprintln(os.Stderr, "bench: --rebuild-events: want 0 or more")
		return 2
	}
	if cfg.AdminURL == "" || cfg.BinDir == "" {
		fmt.Fprintln(os.Stderr, "bench: --database-url and --bin-dir are required (make bench sets them)")
		return 2
	}
	cfg.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if _, err := bench.Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// isSet reports whether the flag called name was given.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// counts parses a comma-separated list of positive client counts.
func counts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1000 {
			return nil, fmt.Errorf("want client counts from 1 to 1000, got %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
