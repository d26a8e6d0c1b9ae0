package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// itemsPerOrder is how many items a client adds to an order before it creates the next one, so
// that the streams the command API reads hold 1 to 10 events, like the command baseline's 10.
const itemsPerOrder = 9

// maxKnownOrders bounds the order IDs kept for the query load.
const maxKnownOrders = 100_000

// Client drives the command and query APIs. Each worker number has an order of its own that it
// adds items to; a worker is used by one request at a time (see ClosedLoop and Paced).
type Client struct {
	http            *http.Client
	commands, query string
	token           string // bearer token sent with every request to the APIs
	metricsToken    string // bearer token of /metrics
	workers         []workerState

	mu     sync.Mutex
	orders []uuid.UUID // created, for the query load
}

type workerState struct {
	order uuid.UUID
	items int
}

// NewClient returns a client of the two APIs, sending token, for up to workers concurrent workers.
func NewClient(commandsURL, queryURL, token, metricsToken string, workers int) *Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 2*workers, 2*workers // keep connections: no TCP set-up per request
	return &Client{http: &http.Client{Transport: t}, commands: commandsURL, query: queryURL, token: token, metricsToken: metricsToken,
		workers: make([]workerState, workers)}
}

// written is the command API's answer to a command.
type written struct {
	OrderID  string `json:"order_id"`
	Version  uint64 `json:"version"`
	Position string `json:"position"`
}

// Command sends worker's next command: add an item to its order, or create a new order after
// itemsPerOrder items.
func (c *Client) Command(ctx context.Context, worker int) error {
	_, _, err := c.command(ctx, worker)
	return err
}

func (c *Client) command(ctx context.Context, worker int) (uuid.UUID, written, error) {
	s := &c.workers[worker]
	var (
		path string
		body any
	)
	create := s.order == uuid.Nil || s.items >= itemsPerOrder
	if create {
		id := uuid.New()
		path, body = "/orders", map[string]any{"order_id": id, "customer_id": "bench-" + strconv.Itoa(worker), "currency": "EUR"}
	} else {
		path, body = "/orders/"+s.order.String()+"/items", map[string]any{
			"sku": "SKU-" + strconv.Itoa(s.items), "name": "Espresso beans, 1 kg", "quantity": 1, "unit_price_cents": 1999}
	}
	var w written
	status, err := c.do(ctx, http.MethodPost, c.commands+path, body, nil, &w)
	if err != nil {
		return uuid.Nil, w, err
	}
	if status/100 != 2 {
		return uuid.Nil, w, fmt.Errorf("POST %s: status %d", path, status)
	}
	id, err := uuid.Parse(w.OrderID)
	if err != nil {
		return uuid.Nil, w, fmt.Errorf("POST %s: order_id %q: %w", path, w.OrderID, err)
	}
	if create {
		s.order, s.items = id, 0
		c.mu.Lock()
		if len(c.orders) < maxKnownOrders {
			c.orders = append(c.orders, id)
		}
		c.mu.Unlock()
	} else {
		s.items++
	}
	return id, w, nil
}

// Query reads a random known order.
func (c *Client) Query(ctx context.Context, _ int) error {
	c.mu.Lock()
	n := len(c.orders)
	var id uuid.UUID
	if n > 0 {
		id = c.orders[rand.IntN(n)]
	}
	c.mu.Unlock()
	if n == 0 {
		return errors.New("no orders to read")
	}
	status, err := c.do(ctx, http.MethodGet, c.query+"/orders/"+id.String(), nil, nil, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET /orders/%s: status %d", id, status)
	}
	return nil
}

// CatchUp writes one command and waits until the query API shows it: then every earlier write is
// projected too.
func (c *Client) CatchUp(ctx context.Context) error {
	id, w, err := c.command(ctx, 0)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		status, err := c.do(ctx, http.MethodGet, c.query+"/orders/"+id.String(), nil,
			map[string]string{"X-Min-Position": w.Position, "X-Max-Wait-Ms": "5000"}, nil)
		if err == nil && status == http.StatusOK {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the projector did not catch up within 2 minutes (last: %d %v)", status, err)
		}
	}
}

// Lag sends commands at rate per second for d and, after each 2xx, measures how long until the
// query API shows the write: with one GET carrying X-Min-Position when minPosition is set, else by
// polling GETs until the order's version has arrived. It returns the commands' own figures, the lags,
// and how many writes polling never saw within 5 s.
func (c *Client) Lag(ctx context.Context, rate float64, d time.Duration, minPosition bool) (LoadResult, *Latencies, int) {
	const inFlight = 256
	cmds, lags := make([]Latencies, inFlight), make([]Latencies, inFlight)
	notSeen := make([]int, inFlight)
	res := Paced(ctx, rate, d, inFlight, func(ctx context.Context, worker int) error {
		t0 := time.Now()
		id, w, err := c.command(ctx, worker)
		if err != nil {
			return err
		}
		done := time.Now()
		cmds[worker].Record(done.Sub(t0))
		if minPosition {
			status, err := c.do(ctx, http.MethodGet, c.query+"/orders/"+id.String(), nil,
				map[string]string{"X-Min-Position": w.Position, "X-Max-Wait-Ms": "5000"}, nil)
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("GET with X-Min-Position: %d %v", status, err)
			}
			lags[worker].Record(time.Since(done))
			return nil
		}
		for time.Since(done) < 5*time.Second {
			var view struct {
				Version uint64 `json:"version"`
			}
			status, err := c.do(ctx, http.MethodGet, c.query+"/orders/"+id.String(), nil, nil, &view)
			if err == nil && status == http.StatusOK && view.Version >= w.Version {
				lags[worker].Record(time.Since(done))
				return nil
			}
			time.Sleep(time.Millisecond)
		}
		notSeen[worker]++
		return nil
	})
	all, cmdLat := &Latencies{}, &Latencies{}
	n := 0
	for i := range inFlight {
		all.Merge(&lags[i])
		cmdLat.Merge(&cmds[i])
		n += notSeen[i]
	}
	res.Latencies = cmdLat
	return res, all, n
}

// EventsApplied is the projector's projector_events_applied_total of its slowest projection: the log
// events that every projection has applied. It is 0 before the projections have started.
func (c *Client) EventsApplied(ctx context.Context, projectorURL string) (float64, error) {
	body, err := c.metrics(ctx, projectorURL)
	if err != nil {
		return 0, err
	}
	samples, err := metricSamples(bytes.NewReader(body), "projector_events_applied_total")
	if err != nil || len(samples) == 0 {
		return 0, err
	}
	return slices.Min(samples), nil
}

// LogReads reads the projector's counts of log reads and batches so far (see LogReads).
func (c *Client) LogReads(ctx context.Context, projectorURL string) (LogReads, error) {
	body, err := c.metrics(ctx, projectorURL)
	if err != nil {
		return LogReads{}, err
	}
	sum := func(name string) (float64, error) {
		samples, err := metricSamples(bytes.NewReader(body), name)
		var n float64
		for _, v := range samples {
			n += v
		}
		return n, err
	}
	var lr LogReads
	if lr.Requests, err = sum("projector_log_requests_total"); err != nil {
		return LogReads{}, err
	}
	if lr.Reads, err = sum("projector_log_reads_total"); err != nil {
		return LogReads{}, err
	}
	lr.Batches, err = sum("projector_batch_size_count")
	return lr, err
}

// CacheLookups reads the query API's cache lookups so far, hits and misses.
func (c *Client) CacheLookups(ctx context.Context) (hits, misses float64, err error) {
	body, err := c.metrics(ctx, c.query)
	if err != nil {
		return 0, 0, err
	}
	count := func(result string) (float64, error) {
		samples, err := metricSamples(bytes.NewReader(body), `queryapi_cache_lookups_total{result="`+result+`"}`)
		var n float64
		for _, v := range samples {
			n += v
		}
		return n, err
	}
	if hits, err = count("hit"); err != nil {
		return 0, 0, err
	}
	misses, err = count("miss")
	return hits, misses, err
}

// metrics reads the /metrics page of the service at baseURL.
func (c *Client) metrics(ctx context.Context, baseURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if c.metricsToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.metricsToken)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: status %d", baseURL, res.StatusCode)
	}
	return io.ReadAll(res.Body)
}

// metricSamples reads the samples of one metric, one per label set, in the Prometheus text format.
// name may carry a whole label set, such as `m{a="b"}`, to read that one sample.
func metricSamples(r io.Reader, name string) ([]float64, error) {
	var samples []float64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		if strings.HasPrefix(rest, "{") {
			rest = rest[strings.LastIndex(rest, "}")+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metric line %q has no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		samples = append(samples, v)
	}
	return samples, sc.Err()
}

func (c *Client) do(ctx context.Context, method, url string, body any, header map[string]string, into any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if into != nil && res.StatusCode/100 == 2 {
		if err := json.NewDecoder(res.Body).Decode(into); err != nil {
			return res.StatusCode, err
		}
	}
	_, _ = io.Copy(io.Discard, res.Body) // drained, so the connection is reused
	return res.StatusCode, nil
}
