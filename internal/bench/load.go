package bench

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Op is one request of a load: worker is the client's number (0 to clients-1) for state a client
// keeps between its requests. An error counts as a failed request; the load goes on.
type Op func(ctx context.Context, worker int) error

// LoadResult is what a load measured.
type LoadResult struct {
	Ops       int           // requests that succeeded
	Errors    int           // requests that failed
	FirstErr  error         // the first failure, for the report
	Elapsed   time.Duration // from the first request to the last answer
	Latencies *Latencies    // of the successful requests
}

// Rate is successful requests per second.
func (r LoadResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// timeout bounds each request: a stuck request must not hold a bounded run past its end.
const timeout = 10 * time.Second

// ClosedLoop runs clients workers, each sending its next request as soon as the previous one has
// answered, for d or until ctx ends.
func ClosedLoop(ctx context.Context, clients int, d time.Duration, op Op) LoadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	results := make([]LoadResult, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			r := LoadResult{Latencies: &Latencies{}}
			for ctx.Err() == nil {
				t0 := time.Now()
				rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
				err := op(rctx, w)
				rcancel()
				r.add(err, time.Since(t0))
			}
			results[w] = r
		})
	}
	wg.Wait()
	return merge(results, time.Since(start))
}

// Paced starts requests at rate per second for d, whatever the answers, keeping at most maxInFlight
// outstanding (a start that would exceed it is skipped and counted as an error, so an overloaded
// system shows up as errors rather than as a silently lower rate). Workers get numbers 0 to
// maxInFlight-1, each used by one request at a time.
func Paced(ctx context.Context, rate float64, d time.Duration, maxInFlight int, op Op) LoadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	free := make(chan int, maxInFlight)
	for w := range maxInFlight {
		free <- w
	}
	var (
		mu  sync.Mutex
		all = LoadResult{Latencies: &Latencies{}}
		wg  sync.WaitGroup
	)
	// Starts follow a schedule fixed from the start, so a late wake-up is made up by the next
	// starts rather than lowering the rate (a time.Ticker drops ticks instead).
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; ; i++ {
		wait := time.Until(start.Add(time.Duration(i) * interval))
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		// Latency counts from when the request was due, not from when it started: a generator
		// that fell behind must not hide the delay (coordinated omission).
		due := start.Add(time.Duration(i) * interval)
		select {
		case w := <-free:
			wg.Go(func() {
				defer func() { free <- w }()
				t0 := due
				rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
				err := op(rctx, w)
				rcancel()
				took := time.Since(t0)
				mu.Lock()
				all.add(err, took)
				mu.Unlock()
			})
		default:
			mu.Lock()
			all.add(errOverloaded, 0)
			mu.Unlock()
		}
	}
	wg.Wait()
	all.Elapsed = time.Since(start)
	return all
}

// errOverloaded is the failure of a paced request that could not start: too many were in flight.
var errOverloaded = errors.New("too many requests in flight: the target is slower than the pace")

func (r *LoadResult) add(err error, took time.Duration) {
	if err != nil {
		r.Errors++
		if r.FirstErr == nil {
			r.FirstErr = err
		}
		return
	}
	r.Ops++
	r.Latencies.Record(took)
}

func merge(results []LoadResult, elapsed time.Duration) LoadResult {
	all := LoadResult{Latencies: &Latencies{}, Elapsed: elapsed}
	for _, r := range results {
		all.Ops += r.Ops
		all.Errors += r.Errors
		if all.FirstErr == nil {
			all.FirstErr = r.FirstErr
		}
		if r.Latencies != nil {
			all.Latencies.Merge(r.Latencies)
		}
	}
	return all
}
