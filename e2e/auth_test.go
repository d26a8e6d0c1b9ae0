package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/internal/auth"
)

const devSecret = "e2e-secret-0123456789abcdef0123456789"

func token(t *testing.T, sub string, role auth.Role) string {
	t.Helper()
	s, err := auth.SignHS256([]byte(devSecret), sub, role, "", "", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + s
}

// eventsOf returns the number of events in an order's stream and the actors recorded on them.
func eventsOf(t *testing.T, db, orderID string) (int, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT metadata->>'actor' FROM events WHERE stream_id = $1 ORDER BY version`, "order-"+orderID)
	if err != nil {
		t.Fatal(err)
	}
	actors, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return len(actors), actors
}

// TestAccessControl runs the platform with authentication on and walks each role through what it may
// and may not do: 401 without a valid token, 403 for the wrong role or another customer's order, and
// a forbidden command writes nothing.
func TestAccessControl(t *testing.T) {
	p := startPlatformWith(t, map[string]string{"AUTH": "on", "AUTH_HMAC_SECRET": devSecret})
	alice, bob := token(t, "alice", auth.Customer), token(t, "bob", auth.Customer)
	staff, admin := token(t, "clerk", auth.Staff), token(t, "root", auth.Admin)
	cmd, qry := p.command.URL, p.queries.URL
	aliceOrder, bobOrder := uuid.NewString(), uuid.NewString()
	item := map[string]any{"sku": "A", "name": "Alpha", "quantity": 1, "unit_price_cents": 100}

	expect := func(who string, res response, want int) {
		t.Helper()
		if res.status != want {
			t.Errorf("%s: %d %s, want %d", who, res.status, res.body, want)
		}
	}
	// Set-up through the API itself: each customer creates its own order.
	expect("alice creates her order", call(t, "POST", cmd+"/orders", map[string]any{"order_id": aliceOrder, "customer_id": "alice", "currency": "EUR"}, "Authorization", alice), http.StatusCreated)
	expect("bob creates his order", call(t, "POST", cmd+"/orders", map[string]any{"order_id": bobOrder, "customer_id": "bob", "currency": "EUR"}, "Authorization", bob), http.StatusCreated)
	last := call(t, "POST", cmd+"/orders/"+aliceOrder+"/items", item, "Authorization", alice)
	expect("alice adds an item to her order", last, http.StatusOK)
	var w written
	last.decode(t, &w)

	// 401: no token, a bad one, a token signed with another key. No write happens.
	res := call(t, "POST", cmd+"/orders/"+aliceOrder+"/items", item)
	expect("no token", res, http.StatusUnauthorized)
	if !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge: %q", res.header.Get("WWW-Authenticate"))
	}
	forged, _ := auth.SignHS256([]byte("another-secret-0123456789abcdef0123456"), "alice", auth.Admin, "", "", time.Now(), time.Hour)
	expect("forged token", call(t, "POST", cmd+"/orders/"+aliceOrder+"/items", item, "Authorization", "Bearer "+forged), http.StatusUnauthorized)
	expect("no token on reads", call(t, "GET", qry+"/orders/"+aliceOrder, nil), http.StatusUnauthorized)
	expect("health needs no token", call(t, "GET", cmd+"/healthz", nil), http.StatusOK)

	// 403: a customer on another customer's order, or creating one for another customer.
	expect("bob adds to alice's order", call(t, "POST", cmd+"/orders/"+aliceOrder+"/items", item, "Authorization", bob), http.StatusForbidden)
	expect("bob cancels alice's order", call(t, "POST", cmd+"/orders/"+aliceOrder+"/cancel", map[string]any{"reason": "mine now"}, "Authorization", bob), http.StatusForbidden)
	expect("bob re-creates alice's order", call(t, "POST", cmd+"/orders", map[string]any{"order_id": aliceOrder, "customer_id": "bob", "currency": "EUR"}, "Authorization", bob), http.StatusForbidden)
	expect("bob creates an order for alice", call(t, "POST", cmd+"/orders", map[string]any{"customer_id": "alice", "currency": "EUR"}, "Authorization", bob), http.StatusForbidden)
	expect("alice ships her own order", call(t, "POST", cmd+"/orders/"+aliceOrder+"/shipments", map[string]any{"carrier": "DHL", "tracking_number": "T"}, "Authorization", alice), http.StatusForbidden)
	if n, actors := eventsOf(t, p.db, aliceOrder); n != 2 || actors[0] != "alice" || actors[1] != "alice" {
		t.Errorf("alice's order after the forbidden commands: %d events by %v, want 2 by alice", n, actors)
	}

	// Staff act on any order; the actor recorded is the token's subject, not a header.
	res = call(t, "POST", cmd+"/orders/"+bobOrder+"/items", item, "Authorization", staff, "X-Actor", "someone-else")
	expect("staff adds to bob's order", res, http.StatusOK)
	if _, actors := eventsOf(t, p.db, bobOrder); len(actors) != 2 || actors[1] != "clerk" {
		t.Errorf("actors on bob's order: %v, want [bob clerk]", actors)
	}
	res.decode(t, &w)
	min := []string{"X-Min-Position", w.Position, "X-Max-Wait-Ms", "5000"}

	// Reads.
	reads := []struct {
		who, path, token string
		want             int
	}{
		{"alice reads her order", "/orders/" + aliceOrder, alice, 200},
		{"alice reads bob's order", "/orders/" + bobOrder, alice, 403},
		{"staff reads bob's order", "/orders/" + bobOrder, staff, 200},
		{"alice reads her summary", "/customers/alice/summary", alice, 200},
		{"alice reads bob's summary", "/customers/bob/summary", alice, 403},
		{"staff reads bob's summary", "/customers/bob/summary", staff, 200},
		{"alice lists bob's orders", "/orders?customer_id=bob", alice, 403},
		{"alice reads daily sales", "/sales/daily?from=2026-01-01&to=2026-01-02", alice, 403},
		{"staff reads daily sales", "/sales/daily?from=2026-01-01&to=2026-01-02", staff, 200},
		{"staff reads projection status", "/projections", staff, 403},
		{"admin reads projection status", "/projections", admin, 200},
	}
	for _, r := range reads {
		expect(r.who, call(t, "GET", qry+r.path, nil, append([]string{"Authorization", r.token}, min...)...), r.want)
	}
	// A customer's list holds its own orders only, with or without customer_id.
	for _, path := range []string{"/orders", "/orders?customer_id=alice"} {
		res := call(t, "GET", qry+path, nil, append([]string{"Authorization", alice}, min...)...)
		if res.status != 200 || !strings.Contains(string(res.body), aliceOrder) || strings.Contains(string(res.body), bobOrder) {
			t.Errorf("alice lists %s: %d %s", path, res.status, res.body)
		}
	}
	res = call(t, "GET", qry+"/orders", nil, append([]string{"Authorization", staff}, min...)...)
	if !strings.Contains(string(res.body), aliceOrder) || !strings.Contains(string(res.body), bobOrder) {
		t.Errorf("staff lists all orders: %d %s", res.status, res.body)
	}
}

// TestIdempotencyKeysAreScopedPerClient: two customers who pick the same idempotency key for orders
// without an ID get two orders, and neither sees the other's response.
func TestIdempotencyKeysAreScopedPerClient(t *testing.T) {
	p := startPlatformWith(t, map[string]string{"AUTH": "on", "AUTH_HMAC_SECRET": devSecret})
	var ids []string
	for _, who := range []string{"carol", "dave", "carol"} {
		res := call(t, "POST", p.command.URL+"/orders", map[string]any{"customer_id": who, "currency": "EUR"},
			"Authorization", token(t, who, auth.Customer), "Idempotency-Key", "same-key")
		if res.status != http.StatusCreated {
			t.Fatalf("%s: %d %s", who, res.status, res.body)
		}
		var w written
		res.decode(t, &w)
		ids = append(ids, w.OrderID)
	}
	if ids[0] == ids[1] || ids[0] != ids[2] {
		t.Errorf("orders %v: want carol's repeat to replay hers and dave's to be his own", ids)
	}
}
