package projections_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/ordergen"
	"github.com/orderflow/orderflow/projections"
	"github.com/orderflow/orderflow/projections/projectiontest"
)

// Rows as the tests read them back, every column.

type orderRow struct {
	OrderID          uuid.UUID  `db:"order_id"`
	CustomerID       string     `db:"customer_id"`
	Status           string     `db:"status"`
	Currency         string     `db:"currency"`
	TotalCents       int64      `db:"total_cents"`
	ItemCount        int64      `db:"item_count"`
	LineCount        int32      `db:"line_count"`
	ShipName         *string    `db:"ship_name"`
	ShipLine1        *string    `db:"ship_line1"`
	ShipLine2        *string    `db:"ship_line2"`
	ShipCity         *string    `db:"ship_city"`
	ShipPostalCode   *string    `db:"ship_postal_code"`
	ShipCountry      *string    `db:"ship_country"`
	PaymentReference *string    `db:"payment_reference"`
	PaidCents        *int64     `db:"paid_cents"`
	Carrier          *string    `db:"carrier"`
	TrackingNumber   *string    `db:"tracking_number"`
	CancelReason     *string    `db:"cancel_reason"`
	Version          int64      `db:"version"`
	Position         string     `db:"position"`
	CreatedAt        time.Time  `db:"created_at"`
	UpdatedAt        time.Time  `db:"updated_at"`
	PlacedAt         *time.Time `db:"placed_at"`
	PaidAt           *time.Time `db:"paid_at"`
	ShippedAt        *time.Time `db:"shipped_at"`
	DeliveredAt      *time.Time `db:"delivered_at"`
	CancelledAt      *time.Time `db:"cancelled_at"`
}

type itemRow struct {
	OrderID        uuid.UUID `db:"order_id"`
	SKU            string    `db:"sku"`
	Name           string    `db:"name"`
	Quantity       int64     `db:"quantity"`
	UnitPriceCents int64     `db:"unit_price_cents"`
	LineNo         int32     `db:"line_no"`
}

type summaryRow struct {
	CustomerID  string    `db:"customer_id"`
	OrdersTotal int32     `db:"orders_total"`
	Draft       int32     `db:"draft"`
	Placed      int32     `db:"placed"`
	Paid        int32     `db:"paid"`
	Shipped     int32     `db:"shipped"`
	Delivered   int32     `db:"delivered"`
	Cancelled   int32     `db:"cancelled"`
	UpdatedAt   time.Time `db:"updated_at"`
}

type paidRow struct {
	CustomerID string `db:"customer_id"`
	Currency   string `db:"currency"`
	PaidCents  int64  `db:"paid_cents"`
}

type salesRow struct {
	Day              time.Time `db:"day"`
	Currency         string    `db:"currency"`
	OrdersPlaced     int32     `db:"orders_placed"`
	OrdersPaid       int32     `db:"orders_paid"`
	OrdersCancelled  int32     `db:"orders_cancelled"`
	PaidRevenueCents int64     `db:"paid_revenue_cents"`
}

type auditRow struct {
	EventID       uuid.UUID `db:"event_id"`
	Position      string    `db:"position"`
	CommitPos     int64     `db:"commit_pos"`
	PreparePos    int64     `db:"prepare_pos"`
	OrderID       uuid.UUID `db:"order_id"`
	Version       int64     `db:"version"`
	Type          string    `db:"type"`
	Actor         string    `db:"actor"`
	CorrelationID *string   `db:"correlation_id"`
	CausationID   *string   `db:"causation_id"`
	Command       *string   `db:"command"`
	RecordedAt    time.Time `db:"recorded_at"`
}

// rows reads a whole table into T, its times in UTC so that they compare with ==.
func rows[T any](t *testing.T, e *env, sql string) []T {
	t.Helper()
	r, err := e.pool.Query(timeout(t, 10*time.Second), sql)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(r, pgx.RowToStructByName[T])
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		utc(reflect.ValueOf(&out[i]).Elem())
	}
	return out
}

// utc sets every time.Time and *time.Time field of the struct v to UTC.
func utc(v reflect.Value) {
	for i := range v.NumField() {
		switch f := v.Field(i); x := f.Interface().(type) {
		case time.Time:
			f.Set(reflect.ValueOf(x.UTC()))
		case *time.Time:
			if x != nil {
				u := x.UTC()
				f.Set(reflect.ValueOf(&u))
			}
		}
	}
}

func same[T any](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func ptr[T any](v T) *T { return &v }

// TestProjections feeds a known history through every projection, in batches small enough to split
// orders across them, and checks every column of every row.
func TestProjections(t *testing.T) {
	e := newEnv(t)
	t0 := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	a, b, c := uuid.MustParse("00000000-0000-4000-8000-00000000000a"), uuid.MustParse("00000000-0000-4000-8000-00000000000b"),
		uuid.MustParse("00000000-0000-4000-8000-00000000000c")
	alice := eventstore.Metadata{Actor: "alice", CorrelationID: "corr-1", CausationID: "cause-1", Command: "Shop"}
	none := eventstore.Metadata{}

	e.append(t, a, alice,
		domain.OrderCreated{OrderID: a, CustomerID: "c1", Currency: "EUR", At: at(0)},
		domain.ItemAdded{SKU: "A", Name: "Alpha", Quantity: 2, UnitPriceCents: 1250, At: at(time.Minute)},
		domain.ItemAdded{SKU: "B", Name: "Beta", Quantity: 1, UnitPriceCents: 500, At: at(2 * time.Minute)},
		domain.ItemAdded{SKU: "A", Name: "Alpha", Quantity: 1, UnitPriceCents: 1250, At: at(3 * time.Minute)},
		domain.ItemRemoved{SKU: "B", At: at(4 * time.Minute)},
		domain.ShippingAddressSet{Name: "Ada", Line1: "1 Main St", City: "Berlin", PostalCode: "10115", Country: "DE", At: at(5 * time.Minute)},
		domain.OrderPlaced{TotalCents: 3750, Currency: "EUR", ItemCount: 3, At: at(6 * time.Minute)})
	e.append(t, b, none,
		domain.OrderCreated{OrderID: b, CustomerID: "c1", Currency: "USD", At: at(10 * time.Minute)},
		domain.ItemAdded{SKU: "C", Name: "Gamma", Quantity: 4, UnitPriceCents: 250, At: at(11 * time.Minute)},
		domain.ItemAdded{SKU: "D", Name: "Delta", Quantity: 1, UnitPriceCents: 99, At: at(12 * time.Minute)})
	// Not an order's stream, and a type no projection knows: skipped by all.
	if _, err := e.store.Append(timeout(t, 5*time.Second), "customer-c1", eventstore.Any(), eventstore.EventData{
		ID: uuid.New(), Type: "CustomerRegistered", SchemaVersion: 1, Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	e.append(t, c, none,
		domain.OrderCreated{OrderID: c, CustomerID: "c2", Currency: "EUR", At: at(20 * time.Minute)},
		domain.OrderCancelled{Reason: "oops", PreviousStatus: "draft", At: at(21 * time.Minute)})
	e.append(t, b, none,
		domain.OrderPlaced{TotalCents: 1099, Currency: "USD", ItemCount: 5, At: at(13 * time.Minute)},
		domain.OrderCancelled{Reason: "too slow", PreviousStatus: "placed", At: at(14 * time.Minute)})
	e.append(t, a, alice,
		domain.OrderPaid{AmountCents: 3750, Currency: "EUR", PaymentReference: "pay-1", At: at(3 * time.Hour)},
		domain.OrderShipped{Carrier: "DHL", TrackingNumber: "TN-1", At: at(4 * time.Hour)},
		domain.OrderDelivered{At: at(26 * time.Hour)})

	r := e.run(t, projections.Config{BatchSize: 4})
	e.waitCaughtUp(t)
	check := func(t *testing.T) {
		t.Helper()
		log, err := e.store.ReadAll(timeout(t, 5*time.Second), eventstore.Position{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		last := map[uuid.UUID]string{}
		var audit []auditRow
		for _, ev := range log {
			id, err := uuid.Parse(ev.StreamID[len("order-"):])
			if ev.StreamID[:6] != "order-" || err != nil {
				continue
			}
			last[id] = ev.Position.String()
			md := ev.Metadata
			opt := func(s string) *string {
				if s == "" {
					return nil
				}
				return &s
			}
			audit = append(audit, auditRow{EventID: ev.ID, Position: ev.Position.String(), CommitPos: int64(ev.Position.Commit),
				PreparePos: int64(ev.Position.Prepare), OrderID: id, Version: int64(ev.Version), Type: ev.Type, Actor: md.Actor,
				CorrelationID: opt(md.CorrelationID), CausationID: opt(md.CausationID), Command: opt(md.Command),
				RecordedAt: ev.RecordedAt.UTC()})
		}
		slices.SortFunc(audit, func(x, y auditRow) int { return slices.Compare(x.EventID[:], y.EventID[:]) })

		same(t, "rm_orders", rows[orderRow](t, e, `SELECT * FROM rm_orders ORDER BY order_id`), []orderRow{{
			OrderID: a, CustomerID: "c1", Status: "delivered", Currency: "EUR", TotalCents: 3750, ItemCount: 3, LineCount: 1,
			ShipName: ptr("Ada"), ShipLine1: ptr("1 Main St"), ShipCity: ptr("Berlin"), ShipPostalCode: ptr("10115"), ShipCountry: ptr("DE"),
			PaymentReference: ptr("pay-1"), PaidCents: ptr[int64](3750), Carrier: ptr("DHL"), TrackingNumber: ptr("TN-1"),
			Version: 10, Position: last[a], CreatedAt: at(0), UpdatedAt: at(26 * time.Hour),
			PlacedAt: ptr(at(6 * time.Minute)), PaidAt: ptr(at(3 * time.Hour)), ShippedAt: ptr(at(4 * time.Hour)), DeliveredAt: ptr(at(26 * time.Hour)),
		}, {
			OrderID: b, CustomerID: "c1", Status: "cancelled", Currency: "USD", TotalCents: 1099, ItemCount: 5, LineCount: 2,
			CancelReason: ptr("too slow"), Version: 5, Position: last[b], CreatedAt: at(10 * time.Minute), UpdatedAt: at(14 * time.Minute),
			PlacedAt: ptr(at(13 * time.Minute)), CancelledAt: ptr(at(14 * time.Minute)),
		}, {
			OrderID: c, CustomerID: "c2", Status: "cancelled", Currency: "EUR", CancelReason: ptr("oops"), Version: 2, Position: last[c],
			CreatedAt: at(20 * time.Minute), UpdatedAt: at(21 * time.Minute), CancelledAt: ptr(at(21 * time.Minute)),
		}})
		same(t, "rm_order_items", rows[itemRow](t, e, `SELECT * FROM rm_order_items ORDER BY order_id, line_no`), []itemRow{
			{OrderID: a, SKU: "A", Name: "Alpha", Quantity: 3, UnitPriceCents: 1250, LineNo: 1},
			{OrderID: b, SKU: "C", Name: "Gamma", Quantity: 4, UnitPriceCents: 250, LineNo: 1},
			{OrderID: b, SKU: "D", Name: "Delta", Quantity: 1, UnitPriceCents: 99, LineNo: 2},
		})
		same(t, "rm_customer_summaries", rows[summaryRow](t, e, `SELECT * FROM rm_customer_summaries ORDER BY customer_id`), []summaryRow{
			{CustomerID: "c1", OrdersTotal: 2, Delivered: 1, Cancelled: 1, UpdatedAt: at(26 * time.Hour)},
			{CustomerID: "c2", OrdersTotal: 1, Cancelled: 1, UpdatedAt: at(21 * time.Minute)},
		})
		same(t, "rm_customer_paid", rows[paidRow](t, e, `SELECT * FROM rm_customer_paid ORDER BY customer_id, currency`),
			[]paidRow{{CustomerID: "c1", Currency: "EUR", PaidCents: 3750}})
		day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
		same(t, "rm_daily_sales", rows[salesRow](t, e, `SELECT * FROM rm_daily_sales ORDER BY day, currency`), []salesRow{
			{Day: day(1), Currency: "EUR", OrdersPlaced: 1, OrdersCancelled: 1},
			{Day: day(1), Currency: "USD", OrdersPlaced: 1, OrdersCancelled: 1},
			{Day: day(2), Currency: "EUR", OrdersPaid: 1, PaidRevenueCents: 3750},
		})
		same(t, "rm_audit_log", rows[auditRow](t, e, `SELECT * FROM rm_audit_log ORDER BY event_id`), audit)
		if len(audit) != 17 {
			t.Errorf("%d order events in the log, want 17", len(audit))
		}
	}
	check(t)

	t.Run("idempotent", func(t *testing.T) {
		// A checkpoint behind its data, as after a restore: replaying changes nothing.
		log, err := e.store.ReadAll(timeout(t, 5*time.Second), eventstore.Position{}, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, token := range []string{"0:0", log[6].Position.String()} {
			r.stop()
			e.rewind(t, token)
			r = e.run(t, projections.Config{BatchSize: 4})
			e.waitCaughtUp(t)
			check(t)
		}
	})
}

// TestAuditLogReplay: batches that hold events recorded already, as after a restore of the checkpoint,
// add nothing to the audit log, whether they go in with INSERT (small) or COPY (copyFrom rows or more,
// which fails on the key and falls back to INSERT … ON CONFLICT DO NOTHING).
func TestAuditLogReplay(t *testing.T) {
	for _, tt := range []struct {
		name      string
		batchSize int
	}{
		{name: "small batches, INSERT", batchSize: 5},
		{name: "large batches, COPY", batchSize: 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rng := rand.New(rand.NewPCG(7, 8))
			for i := range 30 {
				id := uuid.New()
				e.append(t, id, eventstore.Metadata{Actor: "bot"}, ordergen.History(rng, id, fmt.Sprint("c", i), "EUR", time.Now())...)
			}
			log := e.log(t)
			count := func() int {
				var n int
				if err := e.pool.QueryRow(timeout(t, 5*time.Second), `SELECT count(*) FROM rm_audit_log`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			cfg := projections.Config{BatchSize: tt.batchSize, Projections: []projections.Projection{projections.AuditLog{}}}
			r := e.run(t, cfg)
			e.waitCaughtUp(t, projections.NameAuditLog)
			if got := count(); got != len(log) || got < projections.CopyFrom {
				t.Fatalf("%d audit rows for %d events", got, len(log))
			}
			r.stop()
			e.rewind(t, log[len(log)/3].Position.String())
			r = e.run(t, cfg)
			e.waitCaughtUp(t, projections.NameAuditLog)
			r.stop()
			if got := count(); got != len(log) {
				t.Errorf("after the replay: %d audit rows for %d events", got, len(log))
			}
		})
	}
}

// rewind moves every checkpoint back to token, keeping the data. Runners must be stopped: an idle one
// only notices at its next batch.
func (e *env) rewind(t *testing.T, token string) {
	t.Helper()
	pos, err := eventstore.ParsePosition(token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(timeout(t, 5*time.Second), `UPDATE projection_checkpoints
SET position = $1, commit_pos = $2, prepare_pos = $3`, token, int64(pos.Commit), int64(pos.Prepare)); err != nil {
		t.Fatal(err)
	}
}

// TestProjectionsAgainstDomain checks the orders projection against the domain's own Apply on random
// histories appended event by event and interleaved, and the counters against totals computed here.
func TestProjectionsAgainstDomain(t *testing.T) {
	for _, tt := range []struct {
		name      string
		orders    int
		batchSize int
		live      bool // the projector runs while the events are appended
	}{
		// Batches of a few events, which mostly update orders written by earlier batches.
		{name: "live, small batches", orders: 60, batchSize: 7, live: true},
		// One batch creating more orders than the projection writes with COPY (copyFrom).
		{name: "catching up, one batch", orders: 100, batchSize: 5000},
	} {
		t.Run(tt.name, func(t *testing.T) { testProjectionsAgainstDomain(t, tt.orders, tt.batchSize, tt.live) })
	}
}

func testProjectionsAgainstDomain(t *testing.T, nOrders, batchSize int, live bool) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 5, 1, 20, 0, 0, 0, time.UTC)
	type order struct {
		id     uuid.UUID
		events []domain.Event
		next   int
	}
	var orders []*order
	for i := range nOrders {
		id := uuid.New()
		h := ordergen.History(rng, id, fmt.Sprintf("cust-%d", i%7), []string{"EUR", "USD"}[i%2], start.Add(time.Duration(i)*17*time.Minute))
		orders = append(orders, &order{id: id, events: h})
	}
	var r *running
	if live {
		r = e.run(t, projections.Config{BatchSize: batchSize})
	}
	// Interleave the orders' events, one append each, as concurrent commands would.
	for pending := true; pending; {
		pending = false
		for _, o := range orders {
			if o.next < len(o.events) {
				n := min(1+rng.IntN(2), len(o.events)-o.next)
				e.append(t, o.id, eventstore.Metadata{Actor: "bot"}, o.events[o.next:o.next+n]...)
				o.next += n
				pending = true
			}
		}
	}
	if !live {
		r = e.run(t, projections.Config{BatchSize: batchSize})
	}
	e.waitCaughtUp(t)

	wantSummary := map[string]map[string]int32{}
	wantPaid := map[[2]string]int64{}
	wantSales := map[string]*salesRow{}
	sales := func(at time.Time, currency string) *salesRow {
		k := at.UTC().Format(time.DateOnly) + " " + currency
		if wantSales[k] == nil {
			d := at.UTC().Truncate(24 * time.Hour)
			wantSales[k] = &salesRow{Day: d, Currency: currency}
		}
		return wantSales[k]
	}
	got := map[uuid.UUID]orderRow{}
	for _, row := range rows[orderRow](t, e, `SELECT * FROM rm_orders`) {
		got[row.OrderID] = row
	}
	items := map[uuid.UUID][]itemRow{}
	for _, it := range rows[itemRow](t, e, `SELECT * FROM rm_order_items ORDER BY order_id, line_no`) {
		items[it.OrderID] = append(items[it.OrderID], it)
	}
	for _, o := range orders {
		want := domain.Rebuild(o.events)
		row := got[o.id]
		if row.Status != string(want.Status()) || row.CustomerID != string(want.CustomerID()) || row.Currency != string(want.Currency()) ||
			row.Version != int64(want.Version()) || !row.CreatedAt.Equal(want.CreatedAt().Truncate(time.Microsecond)) || !row.UpdatedAt.Equal(want.UpdatedAt().Truncate(time.Microsecond)) ||
			row.TotalCents != int64(want.Total().Amount()) || row.ItemCount != want.ItemCount() || int(row.LineCount) != len(want.Lines()) {
			t.Errorf("order %s: row %+v, domain says %s %s %s v%d total %d items %d lines %d", o.id, row, want.Status(),
				want.CustomerID(), want.Currency(), want.Version(), want.Total().Amount(), want.ItemCount(), len(want.Lines()))
		}
		if addr, ok := want.ShippingAddress(); !ok || row.ShipCity == nil || *row.ShipCity != addr.City() {
			t.Errorf("order %s: address %v, domain %v", o.id, row.ShipCity, addr)
		}
		var lines []string
		for _, l := range want.Lines() {
			lines = append(lines, fmt.Sprintf("%s %d %d", l.SKU, l.Quantity, l.UnitPrice))
		}
		var gotLines []string
		for _, it := range items[o.id] {
			gotLines = append(gotLines, fmt.Sprintf("%s %d %d", it.SKU, it.Quantity, it.UnitPriceCents))
		}
		if !slices.Equal(gotLines, lines) {
			t.Errorf("order %s: lines %v, domain %v", o.id, gotLines, lines)
		}

		c := string(want.CustomerID())
		if wantSummary[c] == nil {
			wantSummary[c] = map[string]int32{}
		}
		wantSummary[c]["total"]++
		wantSummary[c][string(want.Status())]++
		for _, ev := range o.events {
			switch ev := ev.(type) {
			case domain.OrderPlaced:
				sales(ev.At, ev.Currency).OrdersPlaced++
			case domain.OrderPaid:
				wantPaid[[2]string{c, ev.Currency}] += ev.AmountCents
				s := sales(ev.At, ev.Currency)
				s.OrdersPaid++
				s.PaidRevenueCents += ev.AmountCents
			case domain.OrderCancelled:
				sales(ev.At, string(want.Currency())).OrdersCancelled++
			}
		}
	}
	for _, s := range rows[summaryRow](t, e, `SELECT * FROM rm_customer_summaries`) {
		w := wantSummary[s.CustomerID]
		got := map[string]int32{"total": s.OrdersTotal, "draft": s.Draft, "placed": s.Placed, "paid": s.Paid,
			"shipped": s.Shipped, "delivered": s.Delivered, "cancelled": s.Cancelled}
		for k, v := range got {
			if w[k] != v {
				t.Errorf("customer %s: %s = %d, want %d", s.CustomerID, k, v, w[k])
			}
		}
		delete(wantSummary, s.CustomerID)
	}
	if len(wantSummary) > 0 {
		t.Errorf("customers without a summary: %v", wantSummary)
	}
	for _, p := range rows[paidRow](t, e, `SELECT * FROM rm_customer_paid`) {
		if k := [2]string{p.CustomerID, p.Currency}; wantPaid[k] != p.PaidCents {
			t.Errorf("paid %v = %d, want %d", k, p.PaidCents, wantPaid[k])
		} else {
			delete(wantPaid, k)
		}
	}
	if len(wantPaid) > 0 {
		t.Errorf("paid rows missing: %v", wantPaid)
	}
	for _, s := range rows[salesRow](t, e, `SELECT * FROM rm_daily_sales`) {
		k := s.Day.Format(time.DateOnly) + " " + s.Currency
		if w := wantSales[k]; w == nil || *w != s {
			t.Errorf("sales %s = %+v, want %+v", k, s, w)
		}
		delete(wantSales, k)
	}
	if len(wantSales) > 0 {
		t.Errorf("sales rows missing: %d", len(wantSales))
	}

	// Every projection's status: idle (or running until the first idle write), caught up.
	for _, st := range r.Status() {
		if !st.Owned || st.LagEvents != 0 || st.LastError != "" {
			t.Errorf("status %+v", st)
		}
	}
}

// TestRebuildOnSchemaVersion: a recorded schema version older than the code's makes the runner
// empty the projection's tables and build them again from the start, with the same result.
func TestRebuildOnSchemaVersion(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 10 {
		id := uuid.New()
		e.append(t, id, eventstore.Metadata{}, ordergen.History(rng, id, fmt.Sprint("c", i%3), "EUR", time.Now())...)
	}
	r := e.run(t, projections.Config{})
	e.waitCaughtUp(t)
	r.stop()
	want := e.dump(t)

	// Version 0 is older than every projection's; the rows that remain would be counted twice if the
	// tables were not emptied.
	if _, err := e.pool.Exec(timeout(t, 5*time.Second), `UPDATE projection_checkpoints SET schema_version = 0`); err != nil {
		t.Fatal(err)
	}
	e.run(t, projections.Config{})
	deadline := time.Now().Add(20 * time.Second)
	for rebuilt := false; !rebuilt; {
		if time.Now().After(deadline) {
			t.Fatal("projections not rebuilt within 20s")
		}
		time.Sleep(20 * time.Millisecond)
		if err := e.pool.QueryRow(timeout(t, 5*time.Second),
			`SELECT min(schema_version) = 1 FROM projection_checkpoints`).Scan(&rebuilt); err != nil {
			t.Fatal(err)
		}
	}
	e.waitCaughtUp(t)
	if diff := projectiontest.Diff(e.dump(t), want); diff != "" {
		t.Error(diff)
	}
	r2, err := e.pool.Query(timeout(t, 5*time.Second), `SELECT schema_version FROM projection_checkpoints`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(r2, pgx.RowTo[int])
	if err != nil || len(versions) != 4 || slices.Min(versions) != 1 {
		t.Errorf("schema versions after the rebuild: %v, %v", versions, err)
	}
}
