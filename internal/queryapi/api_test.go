package queryapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

func TestGetOrder(t *testing.T) {
	e := newEnv(t)
	e.checkpoint(readmodel.ProjectionOrders, "40:2", false)
	created := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	id := e.insertOrder(orderRow{customer: "cust-7", status: "placed", total: 2900, version: 6, position: "39:1", createdAt: created, address: true})
	e.exec(`UPDATE rm_orders SET item_count = 3, line_count = 2, placed_at = $2 WHERE order_id = $1`, id, created.Add(time.Hour))
	e.exec(`INSERT INTO rm_order_items (order_id, sku, name, quantity, unit_price_cents, line_no)
VALUES ($1, 'B', 'Beta', 1, 400, 2), ($1, 'A', 'Alpha', 2, 1250, 1)`, id)
	bare := e.insertOrder(orderRow{})

	t.Run("the whole order", func(t *testing.T) {
		r := e.get("/orders/" + id.String())
		var got readmodel.Order
		r.expect(t, 200, &got)
		if r.header.Get("ETag") != `"6"` || r.position() != "40:2" || r.header.Get("Cache-Control") != "no-cache" {
			t.Errorf("headers %v", r.header)
		}
		want := []readmodel.Item{
			{SKU: "A", Name: "Alpha", Quantity: 2, UnitPriceCents: 1250, LineTotalCents: 2500},
			{SKU: "B", Name: "Beta", Quantity: 1, UnitPriceCents: 400, LineTotalCents: 400},
		}
		if got.OrderID != id || got.CustomerID != "cust-7" || got.Status != "placed" || got.Currency != "EUR" ||
			got.TotalCents != 2900 || got.ItemCount != 3 || got.LineCount != 2 || got.Version != 6 ||
			got.Position.String() != "39:1" || !got.CreatedAt.Equal(created) || got.PlacedAt == nil ||
			!slices.Equal(got.Items, want) {
			t.Errorf("order %+v", got)
		}
		if a := got.ShippingAddress; a == nil || a.Name != "Ada Lovelace" || a.Line2 != nil || a.Country != "DE" {
			t.Errorf("address %+v", a)
		}
		// Field names and null-ness on the wire.
		var raw map[string]any
		r.expect(t, 200, &raw)
		for _, k := range []string{"order_id", "total_cents", "shipping_address", "payment_reference", "paid_at", "items", "version", "created_at"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("no %q in %s", k, r.body)
			}
		}
		if raw["paid_at"] != nil || raw["created_at"] != "2026-03-01T12:00:00.123456Z" {
			t.Errorf("times: paid_at %v, created_at %v", raw["paid_at"], raw["created_at"])
		}
	})

	t.Run("an order without address or items", func(t *testing.T) {
		r := e.get("/orders/" + bare.String())
		if r.status != 200 || !strings.Contains(string(r.body), `"shipping_address":null`) || !strings.Contains(string(r.body), `"items":[]`) {
			t.Errorf("%d %s", r.status, r.body)
		}
	})

	t.Run("If-None-Match", func(t *testing.T) {
		for header, want := range map[string]int{
			`"6"`:          304,
			`W/"6"`:        304,
			`"1", "6"`:     304,
			`*`:            304,
			`"5"`:          200,
			`"6`:           200,
			`W/"5", "7"`:   200,
			`"6" , W/"99"`: 304,
		} {
			r := e.get("/orders/"+id.String(), "If-None-Match", header)
			if r.status != want {
				t.Errorf("If-None-Match %s: %d, want %d", header, r.status, want)
			}
			if r.status == 304 && (len(r.body) != 0 || r.header.Get("ETag") != `"6"` || r.position() != "40:2") {
				t.Errorf("304: body %q, headers %v", r.body, r.header)
			}
		}
	})

	t.Run("not projected", func(t *testing.T) {
		r := e.get("/orders/" + uuid.NewString())
		r.problem(t, 404, "order-not-found")
		if r.position() != "40:2" {
			t.Errorf("X-Projection-Position %q on a 404", r.position())
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, tt := range []struct {
			path   string
			header []string
			fields []string
		}{
			{"/orders/42", nil, []string{"id"}},
			{"/orders/" + strings.ReplaceAll(id.String(), "-", ""), nil, []string{"id"}},
			{"/orders/{" + id.String() + "}", nil, []string{"id"}},
			{"/orders/" + uuid.Nil.String(), nil, []string{"id"}},
			{"/orders/" + id.String() + "?fields=all", nil, []string{"fields"}},
			{"/orders/" + id.String() + "?min_position=1&min_position=2", nil, []string{"min_position"}},
			{"/orders/" + id.String() + "?min_position=abc", nil, []string{"min_position"}},
			{"/orders/" + id.String(), []string{HeaderMinPosition, "1:x"}, []string{HeaderMinPosition}},
			{"/orders/" + id.String() + "?min_position=1:0", []string{HeaderMinPosition, "2:0"}, []string{"min_position"}},
			{"/orders/" + id.String(), []string{HeaderMinPosition, "1:0", HeaderMaxWait, "-5"}, []string{HeaderMaxWait}},
			{"/orders/" + id.String(), []string{HeaderMaxWait, "1.5s"}, []string{HeaderMaxWait}},
			{"/orders/nope?limit=1", []string{HeaderMinPosition, "?"}, []string{"id", "limit", HeaderMinPosition}},
		} {
			r := e.get(tt.path, tt.header...)
			if got := r.problem(t, 400, "invalid-request"); !slices.Equal(got, tt.fields) {
				t.Errorf("%s %v: fields %v, want %v", tt.path, tt.header, got, tt.fields)
			}
		}
	})
}

func TestListOrders(t *testing.T) {
	e := newEnv(t)
	e.checkpoint(readmodel.ProjectionOrders, "100:0", false)

	// 23 orders created in 8 instants, so that most share created_at with others: only order_id
	// breaks those ties. Two customers, three statuses.
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	type key struct {
		at time.Time
		id uuid.UUID
	}
	var all []key
	statuses := []string{"draft", "placed", "paid"}
	for i := range 23 {
		at := base.Add(time.Duration(i/3) * time.Minute)
		customer := []string{"alice", "bob"}[i%2]
		id := e.insertOrder(orderRow{customer: customer, status: statuses[i%3], createdAt: at})
		all = append(all, key{at, id})
	}
	// Newest first; ties by order ID descending, which is byte order, as strings in canonical form.
	slices.SortFunc(all, func(a, b key) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return strings.Compare(b.id.String(), a.id.String())
	})

	// pages follows next_cursor from the first page to the last, returning the IDs in order.
	pages := func(t *testing.T, query string) ([]uuid.UUID, int) {
		t.Helper()
		var ids []uuid.UUID
		next, n := "", 0
		for {
			q := query
			if next != "" {
				q += "&cursor=" + url.QueryEscape(next)
			}
			r := e.get("/orders?" + q)
			var page struct {
				Orders     []readmodel.OrderSummary `json:"orders"`
				NextCursor *string                  `json:"next_cursor"`
			}
			r.expect(t, 200, &page)
			if r.position() != "100:0" {
				t.Errorf("X-Projection-Position %q", r.position())
			}
			n++
			for _, o := range page.Orders {
				ids = append(ids, o.OrderID)
			}
			if page.NextCursor == nil {
				return ids, n
			}
			if len(page.Orders) == 0 || n > 50 {
				t.Fatalf("page %d: %d orders and a next cursor", n, len(page.Orders))
			}
			next = *page.NextCursor
		}
	}
	want := func(keep func(i int) bool) []uuid.UUID {
		var ids []uuid.UUID
		for i, k := range all {
			if keep(i) {
				ids = append(ids, k.id)
			}
		}
		return ids
	}
	orderOf := make(map[uuid.UUID]orderRow)
	rows, _ := e.pool.Query(t.Context(), "SELECT order_id, customer_id, status FROM rm_orders")
	for rows.Next() {
		var o orderRow
		if err := rows.Scan(&o.id, &o.customer, &o.status); err != nil {
			t.Fatal(err)
		}
		orderOf[o.id] = o
	}
	rows.Close()

	t.Run("all, in pages of 5, ties included", func(t *testing.T) {
		ids, n := pages(t, "limit=5")
		if !slices.Equal(ids, want(func(int) bool { return true })) || n != 5 {
			t.Errorf("%d pages of %v, want 5 of %v", n, ids, all)
		}
	})
	t.Run("a last page that is full has no next cursor", func(t *testing.T) {
		ids, n := pages(t, "limit=23")
		if len(ids) != 23 || n != 1 {
			t.Errorf("%d orders in %d pages", len(ids), n)
		}
	})
	t.Run("default limit", func(t *testing.T) {
		if ids, n := pages(t, ""); len(ids) != 23 || n != 1 {
			t.Errorf("%d orders in %d pages", len(ids), n)
		}
	})
	t.Run("by customer", func(t *testing.T) {
		ids, _ := pages(t, "customer_id=bob&limit=4")
		if !slices.Equal(ids, want(func(i int) bool { return orderOf[all[i].id].customer == "bob" })) {
			t.Errorf("bob's orders %v", ids)
		}
	})
	t.Run("by status and customer", func(t *testing.T) {
		ids, _ := pages(t, "status=paid&customer_id=alice&limit=2")
		w := want(func(i int) bool { o := orderOf[all[i].id]; return o.customer == "alice" && o.status == "paid" })
		if len(w) == 0 || !slices.Equal(ids, w) {
			t.Errorf("alice's paid orders %v, want %v", ids, w)
		}
	})
	t.Run("no match", func(t *testing.T) {
		r := e.get("/orders?customer_id=nobody")
		if r.status != 200 || string(r.body) != `{"orders":[],"next_cursor":null}`+"\n" {
			t.Errorf("%d %q", r.status, r.body)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		long := strings.Repeat("x", 65)
		badID := encodeCursorRaw("1:not-a-uuid")
		for query, fields := range map[string][]string{
			"limit=0":                            {"limit"},
			"limit=501":                          {"limit"},
			"limit=ten":                          {"limit"},
			"limit=5&limit=6":                    {"limit"},
			"status=lost":                        {"status"},
			"status=":                            {"status"},
			"customer_id=":                       {"customer_id"},
			"customer_id=" + long:                {"customer_id"},
			"cursor=":                            {"cursor"},
			"cursor=%21%21":                      {"cursor"},
			"cursor=" + badID:                    {"cursor"},
			"cursor=" + strings.Repeat("A", 200): {"cursor"},
			"customerId=alice":                   {"customerId"},
			"limit=0&status=x&cursor=y":          {"status", "limit", "cursor"},
			"a=%zz":                              {"query"},
		} {
			r := e.get("/orders?" + query)
			if got := r.problem(t, 400, "invalid-request"); !slices.Equal(got, fields) {
				t.Errorf("?%s: fields %v, want %v", query, got, fields)
			}
		}
	})
}

// encodeCursorRaw encodes a cursor's text, valid or not.
func encodeCursorRaw(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestCustomerSummary(t *testing.T) {
	e := newEnv(t)
	e.checkpoint(readmodel.ProjectionCustomerSummary, "7:3", false)
	e.exec(`INSERT INTO rm_customer_summaries (customer_id, orders_total, draft, placed, paid, shipped, delivered, cancelled, updated_at)
VALUES ('cust/1', 9, 1, 2, 1, 1, 3, 1, '2026-03-02T10:00:00Z'), ('quiet', 1, 1, 0, 0, 0, 0, 0, '2026-03-02T10:00:00Z')`)
	e.exec(`INSERT INTO rm_customer_paid (customer_id, currency, paid_cents) VALUES ('cust/1', 'USD', 500), ('cust/1', 'EUR', 12000)`)

	t.Run("found", func(t *testing.T) {
		r := e.get("/customers/" + url.PathEscape("cust/1") + "/summary")
		var got readmodel.CustomerSummary
		r.expect(t, 200, &got)
		want := readmodel.CustomerSummary{
			CustomerID: "cust/1", OrdersTotal: 9,
			OrdersByStatus: readmodel.StatusCounts{Draft: 1, Placed: 2, Paid: 1, Shipped: 1, Delivered: 3, Cancelled: 1},
			LifetimePaid:   []readmodel.CurrencyPaid{{Currency: "EUR", PaidCents: 12000}, {Currency: "USD", PaidCents: 500}},
			UpdatedAt:      time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC),
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || r.position() != "7:3" {
			t.Errorf("summary %+v at %s, want %+v", got, r.position(), want)
		}
	})
	t.Run("nothing paid", func(t *testing.T) {
		r := e.get("/customers/quiet/summary")
		if r.status != 200 || !strings.Contains(string(r.body), `"lifetime_paid":[]`) {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		r := e.get("/customers/nobody/summary")
		r.problem(t, 404, "customer-not-found")
		if r.position() != "7:3" {
			t.Errorf("X-Projection-Position %q on a 404", r.position())
		}
	})
	t.Run("invalid", func(t *testing.T) {
		for p, fields := range map[string][]string{
			"/customers/" + strings.Repeat("c", 65) + "/summary": {"id"},
			"/customers/%20x/summary":                            {"id"},
			"/customers/x/summary?verbose=1":                     {"verbose"},
		} {
			if got := e.get(p).problem(t, 400, "invalid-request"); !slices.Equal(got, fields) {
				t.Errorf("%s: fields %v, want %v", p, got, fields)
			}
		}
	})
}

func TestDailySales(t *testing.T) {
	e := newEnv(t)
	e.checkpoint(readmodel.ProjectionDailySales, "12:0", false)
	e.exec(`INSERT INTO rm_daily_sales (day, currency, orders_placed, orders_paid, orders_cancelled, paid_revenue_cents) VALUES
	('2026-02-28', 'EUR', 9, 9, 9, 999),
	('2026-03-01', 'USD', 1, 1, 0, 1500),
	('2026-03-01', 'EUR', 3, 2, 1, 4500),
	('2026-03-03', 'EUR', 1, 0, 0, 0),
	('2026-03-04', 'EUR', 9, 9, 9, 999)`)

	days := func(r response) []string {
		t.Helper()
		var body struct{ Sales []map[string]any }
		r.expect(t, 200, &body)
		var out []string
		for _, s := range body.Sales {
			out = append(out, fmt.Sprintf("%s %s %v", s["day"], s["currency"], s["paid_revenue_cents"]))
		}
		return out
	}
	r := e.get("/sales/daily?from=2026-03-01&to=2026-03-03")
	if got := days(r); !slices.Equal(got, []string{"2026-03-01 EUR 4500", "2026-03-01 USD 1500", "2026-03-03 EUR 0"}) || r.position() != "12:0" {
		t.Errorf("sales %v at %s", got, r.position())
	}
	if got := days(e.get("/sales/daily?from=2026-03-01&to=2026-03-01&currency=USD")); !slices.Equal(got, []string{"2026-03-01 USD 1500"}) {
		t.Errorf("USD sales %v", got)
	}
	if r := e.get("/sales/daily?from=2027-01-01&to=2027-12-31"); r.status != 200 || string(r.body) != `{"sales":[]}`+"\n" {
		t.Errorf("366-day range without sales: %d %s", r.status, r.body)
	}
	if r := e.get("/sales/daily?from=2024-01-01&to=2024-12-31"); r.status != 200 {
		t.Errorf("366 days of a leap year: %d %s", r.status, r.body)
	}

	for query, fields := range map[string][]string{
		"":                                           {"from", "to"},
		"from=2026-03-01":                            {"to"},
		"from=2026-3-1&to=2026-03-02":                {"from"},
		"from=2026-03-01&to=2026-02-30":              {"to"},
		"from=2026-03-01&to=tomorrow":                {"to"},
		"from=2026-03-02&to=2026-03-01":              {"to"},
		"from=2025-01-01&to=2026-01-02":              {"to"},
		"from=2026-03-01&to=2026-03-01&currency=eur": {"currency"},
		"from=2026-03-01&to=2026-03-01&currency=XXX": {"currency"},
		"from=2026-03-01&to=2026-03-01&day=1":        {"day"},
	} {
		if got := e.get("/sales/daily?"+query).problem(t, 400, "invalid-request"); !slices.Equal(got, fields) {
			t.Errorf("?%s: fields %v, want %v", query, got, fields)
		}
	}
}

func TestProjections(t *testing.T) {
	e := newEnv(t)
	r := e.get("/projections")
	if r.status != 200 || string(r.body) != `{"projections":[]}`+"\n" || r.position() != "0:0" {
		t.Errorf("no projections: %d %s at %q", r.status, r.body, r.position())
	}

	e.checkpoint(readmodel.ProjectionOrders, "30:0", false)
	e.checkpoint(readmodel.ProjectionDailySales, "9:5", false)
	e.exec(`INSERT INTO projection_status (name, state, last_error, error_position, error_count, updated_at,
	head_position, lag_events, lag_seconds, owner, schema_version) VALUES
	('orders', 'running', NULL, NULL, 0, now(), '30:0', 0, 0, 'projector-a', 1),
	('daily_sales', 'failing', 'boom', '10:0', 3, now(), '30:0', 21, 4.5, 'projector-a', 1),
	('audit_log', 'catching_up', NULL, NULL, 0, now(), '30:0', NULL, NULL, 'projector-b', 2)`)

	r = e.get("/projections")
	var body struct{ Projections []readmodel.Projection }
	r.expect(t, 200, &body)
	if r.position() != "0:0" {
		t.Errorf("X-Projection-Position %q, want the least: audit_log has no checkpoint", r.position())
	}
	var names []string
	for _, p := range body.Projections {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"audit_log", "daily_sales", "orders"}) {
		t.Fatalf("projections %v", names)
	}
	ds := body.Projections[1]
	if ds.State != "failing" || ds.Position.String() != "9:5" || *ds.HeadPosition != "30:0" || *ds.LagEvents != 21 ||
		*ds.LagSeconds != 4.5 || *ds.LastError != "boom" || *ds.ErrorPosition != "10:0" || ds.ErrorCount != 3 ||
		*ds.Owner != "projector-a" || *ds.SchemaVersion != 1 || ds.UpdatedAt == nil {
		t.Errorf("daily_sales %+v", ds)
	}
	if a := body.Projections[0]; a.LagEvents != nil || *a.SchemaVersion != 2 {
		t.Errorf("audit_log %+v", a)
	}

	e.checkpoint("audit_log", "20:0", false)
	if r := e.get("/projections"); r.position() != "9:5" {
		t.Errorf("X-Projection-Position %q, want 9:5", r.position())
	}
	// A checkpoint without status shows as unknown.
	e.checkpoint("customer_summary", "30:0", false)
	r = e.get("/projections")
	if !strings.Contains(string(r.body), `"name":"customer_summary","schema_version":1,"state":"unknown"`) {
		t.Errorf("customer_summary without status: %s", r.body)
	}
	if got := e.get("/projections?all=1").problem(t, 400, "invalid-request"); !slices.Equal(got, []string{"all"}) {
		t.Errorf("fields %v", got)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	if r := e.get("/healthz"); r.status != 200 {
		t.Errorf("/healthz: %d", r.status)
	}
	r := e.get("/readyz")
	var body struct {
		Status string
		Checks map[string]string
	}
	r.expect(t, 200, &body)
	if body.Status != "ready" || body.Checks["database"] != "ok" || body.Checks["listener"] != "ok" {
		t.Errorf("/readyz %s", r.body)
	}
	var doc map[string]any
	if err := json.Unmarshal(e.get("/openapi.json").body, &doc); err != nil || doc["openapi"] != "3.1.0" {
		t.Errorf("/openapi.json: %v", err)
	}
}
