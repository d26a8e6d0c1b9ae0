package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/internal/proctest"
)

// get sends a GET with headers (alternating names and values) and returns the response, body read.
func get(t *testing.T, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := tryGet(url, headers...)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

// tryGet is get for any goroutine.
func tryGet(url string, headers ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// TestQueryAPI runs the binary against a fresh database: it applies the read-model migrations,
// serves the endpoints, wakes a read-your-writes request on the projector's notification, and shuts
// down cleanly on SIGTERM.
func TestQueryAPI(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	p := startQueryAPI(t, map[string]string{"DATABASE_URL": dbURL, "MAX_WAIT": "3s"})
	base := p.URL

	resp, body := get(t, base+"/orders")
	if resp.StatusCode != 200 || string(body) != `{"orders":[],"next_cursor":null}`+"\n" ||
		resp.Header.Get("X-Projection-Position") != "0:0" {
		t.Errorf("GET /orders on an empty read model: %d %s at %q", resp.StatusCode, body, resp.Header.Get("X-Projection-Position"))
	}
	resp, body = get(t, base+"/orders/"+uuid.NewString())
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(string(body), "/order-not-found") {
		t.Errorf("unknown order: %d %s", resp.StatusCode, body)
	}
	// The audit trail reads the event store, whose schema the query API applied too.
	if resp, body = get(t, base+"/orders/"+uuid.NewString()+"/history"); resp.StatusCode != 404 || !strings.Contains(string(body), "/order-not-found") {
		t.Errorf("history of an unknown order: %d %s", resp.StatusCode, body)
	}
	if resp, body = get(t, base+"/orders?limit=0"); resp.StatusCode != 400 || !strings.Contains(string(body), `"field":"limit"`) {
		t.Errorf("limit=0: %d %s", resp.StatusCode, body)
	}
	if resp, _ = get(t, base+"/openapi.json"); resp.StatusCode != 200 {
		t.Errorf("/openapi.json: %d", resp.StatusCode)
	}
	resp, _ = get(t, base+"/orders/"+uuid.NewString(), "X-Min-Position", "99:0", "X-Max-Wait-Ms", "100")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("position not reached: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	t.Run("read your writes", func(t *testing.T) {
		id := uuid.New()
		type result struct {
			resp *http.Response
			body []byte
			err  error
		}
		later := make(chan result, 1)
		start := time.Now()
		go func() {
			resp, body, err := tryGet(base+"/orders/"+id.String(), "X-Min-Position", "5:2")
			later <- result{resp, body, err}
		}()
		time.Sleep(300 * time.Millisecond) // the request is waiting by now (if not, it finds the checkpoint)
		project(t, dbURL, id, "5:2")
		r := <-later
		if r.err != nil {
			t.Fatal(r.err)
		}
		var order struct {
			OrderID string `json:"order_id"`
			Version int    `json:"version"`
		}
		if err := json.Unmarshal(r.body, &order); err != nil || r.resp.StatusCode != 200 || order.OrderID != id.String() ||
			r.resp.Header.Get("X-Projection-Position") != "5:2" || r.resp.Header.Get("ETag") != `"1"` {
			t.Errorf("%d %s at %q (%v)", r.resp.StatusCode, r.body, r.resp.Header.Get("X-Projection-Position"), err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("answered after %v: the notification did not wake it", d)
		}
	})

	p.Signal(syscall.SIGTERM)
	if code := p.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	// Logs are JSON, one object a line, and nothing else is on stdout.
	for _, line := range strings.Split(strings.TrimSpace(p.Stdout()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("stdout line is not JSON: %q", line)
		}
	}
}

// project does what the projector does for a new order: the row and the checkpoint in one
// transaction, with the notification.
func project(t *testing.T, dbURL string, id uuid.UUID, position string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rm_orders (order_id, customer_id, status, currency, version, position, created_at, updated_at)
VALUES ($1, 'cust-1', 'draft', 'EUR', 1, $2, now(), now())`, id, position); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (name, schema_version, position) VALUES ('orders', 1, $1)
ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position`, position); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify('projection_progress', $1)", "orders:"+position)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBadConfiguration: a bad setting is one line on stderr, nothing on stdout, and exit status 2,
// before any connection is attempted.
func TestBadConfiguration(t *testing.T) {
	p := proctest.Launch(t, binary, map[string]string{"MAX_WAIT": "soon", "HTTP_ADDR": "127.0.0.1:0"})
	if code := p.ExitCode(); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	stderr := p.Stderr()
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "MAX_WAIT") || !strings.Contains(stderr, "DATABASE_URL") {
		t.Errorf("stderr %q: want one line naming MAX_WAIT and DATABASE_URL", stderr)
	}
	if out := p.Stdout(); out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
}
