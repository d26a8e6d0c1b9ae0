package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/internal/proctest"
)

// TestPostgresRestartUnderLoad restarts the PostgreSQL server under the three services while clients
// keep sending commands. Every command that got a 2xx must be in the event store afterwards and in
// the read models once the projector has caught up, and the services must come back by themselves:
// none of them is restarted.
//
// Bounded: 4 clients, at most 400 commands each, load for about 1 s before the restart and 2 s after
// the server is back, all on 127.0.0.1.
func TestPostgresRestartUnderLoad(t *testing.T) {
	srv := pgtest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE orderflow"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	db := strings.Replace(srv.URL(), "/postgres?", "/orderflow?", 1)

	env := map[string]string{"DATABASE_URL": db, "STORE_TIMEOUT": "2s", "REQUEST_TIMEOUT": "5s",
		"BREAKER_FAILURES": "3", "BREAKER_OPEN_FOR": "500ms"}
	command := proctest.Start(t, bins.command, env)
	projector := proctest.Start(t, bins.projector, map[string]string{"DATABASE_URL": db, "POLL_INTERVAL": "200ms"})
	queries := proctest.Start(t, bins.query, map[string]string{"DATABASE_URL": db})
	for _, p := range []*proctest.Process{command, projector, queries} {
		p.WaitOK("/readyz")
	}

	type ack struct {
		order   string
		version uint64
		pos     eventstore.Position
		at      time.Time
	}
	var (
		mu       sync.Mutex
		acks     []ack
		failures = map[int]int{}
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		wg.Go(func() {
			order := ""
			for i := 0; i < 400; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path, body := "/orders/"+order+"/items", map[string]any{"sku": fmt.Sprintf("S-%d", i), "name": "Item", "quantity": 1, "unit_price_cents": 100}
				if order == "" || i%10 == 0 {
					order = uuid.NewString()
					path, body = "/orders", map[string]any{"order_id": order, "customer_id": "c-restart", "currency": "EUR"}
				}
				status, w, err := post(ctx, client, command.URL+path, body)
				mu.Lock()
				switch {
				case err != nil:
					failures[0]++
				case status/100 == 2:
					pos, perr := eventstore.ParsePosition(w.Position)
					if perr != nil {
						t.Errorf("position %q: %v", w.Position, perr)
					}
					acks = append(acks, ack{order: order, version: w.Version, pos: pos, at: time.Now()})
				default:
					failures[status]++
					if path == "/orders" {
						order = "" // it may not exist: start another
					}
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}

	time.Sleep(time.Second)
	mu.Lock()
	before := len(acks)
	mu.Unlock()
	srv.Stop()
	time.Sleep(500 * time.Millisecond) // commands meet a server that is down
	srv.Start()
	restarted := time.Now()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d commands acknowledged (%d before the restart); refused or failed by status: %v", len(acks), before, failures)
	for _, a := range acks[before:] {
		if a.at.After(restarted) {
			t.Logf("first command acknowledged %s after the server was back", a.at.Sub(restarted).Round(time.Millisecond))
			break
		}
	}
	if before == 0 || len(acks) == before {
		t.Fatalf("no commands succeeded before (%d) or after the restart (%d): the load did not span it", before, len(acks))
	}
	for status := range failures {
		if status != http.StatusServiceUnavailable && status != 0 {
			t.Errorf("status %d during the restart: only 503s (with Retry-After) are expected", status)
		}
	}

	// Every acknowledged command is in the event store.
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	latest := map[string]ack{}
	var head eventstore.Position
	for _, a := range acks {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM events WHERE stream_id = $1 AND version = $2",
			"order-"+a.order, a.version).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("order %s version %d was acknowledged but is not in the event store", a.order, a.version)
		}
		if a.version > latest[a.order].version {
			latest[a.order] = a
		}
		if a.pos.Compare(head) > 0 {
			head = a.pos
		}
	}

	// The services came back by themselves: ready, and a new command goes through.
	for _, p := range []*proctest.Process{command, projector, queries} {
		p.WaitOK("/readyz")
	}
	if status, _, err := post(ctx, client, command.URL+"/orders", map[string]any{"customer_id": "c-after", "currency": "EUR"}); err != nil || status != http.StatusCreated {
		t.Fatalf("a command after the restart: %d %v", status, err)
	}

	// The projector resumed from its checkpoint and the read models hold every acknowledged write.
	for order, a := range latest {
		res := call(t, "GET", queries.URL+"/orders/"+order, nil, "X-Min-Position", head.String(), "X-Max-Wait-Ms", "5000")
		if res.status != http.StatusOK {
			t.Fatalf("read order %s: %d %s", order, res.status, res.body)
		}
		var o orderView
		res.decode(t, &o)
		if o.Version < a.version {
			t.Errorf("order %s: read model at version %d, acknowledged %d", order, o.Version, a.version)
		}
	}
}

// post sends a JSON command and decodes a success.
func post(ctx context.Context, client *http.Client, url string, body any) (int, written, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, written{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, written{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return 0, written{}, err
	}
	defer res.Body.Close()
	var w written
	if res.StatusCode/100 == 2 {
		err = json.NewDecoder(res.Body).Decode(&w)
	}
	return res.StatusCode, w, err
}
