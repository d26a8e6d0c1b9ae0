package readmodel

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkOrder measures Store.Order on an order of a typical size (an address and three lines):
// the query API's work, and its round trip, on every cache miss of GET /orders/{id}.
//
//	TEST_DATABASE_URL=... go test -run '^$' -bench Order ./internal/queryapi/readmodel/
func BenchmarkOrder(b *testing.B) {
	pool := readModelPool(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := uuid.New()
	for _, sql := range []string{
		`INSERT INTO rm_orders (order_id, customer_id, status, currency, total_cents, item_count, line_count,
	ship_name, ship_line1, ship_line2, ship_city, ship_postal_code, ship_country,
	version, position, created_at, updated_at, placed_at)
VALUES ($1, 'cust-42', 'placed', 'EUR', 7497, 3, 3, 'Ada Lovelace', '1 Main St', 'Apartment 4', 'Berlin', '10115', 'DE',
	5, '41:2', now(), now(), now())`,
		`INSERT INTO rm_order_items (order_id, sku, name, quantity, unit_price_cents, line_no)
SELECT $1, 'SKU-' || i, 'Espresso beans, 1 kg', 1, 2499, i FROM generate_series(1, 3) AS i`,
	} {
		if _, err := pool.Exec(ctx, sql, id); err != nil {
			b.Fatal(err)
		}
	}
	s := NewStore(pool, 0)
	b.ReportAllocs()
	for b.Loop() {
		o, _, err := s.Order(ctx, id)
		if err != nil || len(o.Items) != 3 {
			b.Fatalf("order: %v, %+v", err, o)
		}
	}
}
