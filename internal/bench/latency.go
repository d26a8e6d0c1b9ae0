package bench

import (
	"math"
	"slices"
	"time"
)

// Latencies collects durations and answers percentiles over them exactly. A run of a few hundred
// thousand requests keeps a few megabytes, which is simpler and more precise than a bucketed
// histogram at that size. It is not safe for concurrent use: give each client its own and Merge.
type Latencies struct {
	d      []time.Duration
	sorted bool
}

// Record adds one duration.
func (l *Latencies) Record(d time.Duration) {
	l.d = append(l.d, d)
	l.sorted = false
}

// Merge adds every duration of o.
func (l *Latencies) Merge(o *Latencies) {
	l.d = append(l.d, o.d...)
	l.sorted = false
}

// Len is the number of durations recorded.
func (l *Latencies) Len() int { return len(l.d) }

// Percentile returns the smallest duration that at least p percent (0 < p <= 100) of the recorded
// ones do not exceed (the nearest-rank method), or 0 when none was recorded.
func (l *Latencies) Percentile(p float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	if !l.sorted {
		slices.Sort(l.d)
		l.sorted = true
	}
	rank := int(math.Ceil(p / 100 * float64(len(l.d))))
	return l.d[min(max(rank, 1), len(l.d))-1]
}

// Summary is a latency distribution as reported, in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary returns the count, p50, p95, p99 and maximum.
func (l *Latencies) Summary() Summary {
	return Summary{
		Count: len(l.d),
		P50:   ms(l.Percentile(50)),
		P95:   ms(l.Percentile(95)),
		P99:   ms(l.Percentile(99)),
		Max:   ms(l.Percentile(100)),
	}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
