// Package bench measures the platform on one machine, next to what the same PostgreSQL server does
// on its own: pgbench runs scripts that do the least work each of our operations needs, at the same
// client counts, in the same run, and every figure of ours is reported with its ratio to that
// baseline. cmd/bench wires it up; scripts/bench.sh (make bench) starts the throwaway server.
//
// The load is closed-loop (each client sends its next request when the previous one has answered)
// for throughput, and paced (a fixed rate, whatever the answers) for latency and lag, which is what
// "at half the maximum rate" means. Every run is bounded by a duration and targets loopback only.
//
// Figures are reported, never judged: nothing here fails because a number is low.
package bench
