package queryapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// BenchmarkGetOrderHit measures GET /orders/{id} answered from the cache, through every middleware
// the service runs, without the network: what the query API itself spends on its hottest request.
// With auth=on the request carries an HS256 token of the order's customer, as deployed.
func BenchmarkGetOrderHit(b *testing.B) {
	order := benchOrder()
	secret := []byte("0123456789abcdef0123456789abcdef")
	verifier, err := auth.NewVerifier(auth.Config{Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	token, err := auth.SignHS256(secret, order.CustomerID, auth.Customer, "", "", time.Now(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		guard httpapi.Guard
	}{
		{"auth=off", httpapi.Guard{MaxInFlight: 512}},
		{"auth=on", httpapi.Guard{MaxInFlight: 512, Verifier: verifier}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			api := New(Config{
				ReadModels: orderOnly{order: order},
				CacheTTL:   time.Hour,
				Guard:      bc.guard,
				Logger:     slog.New(slog.DiscardHandler),
			})
			req := httptest.NewRequest(http.MethodGet, "/orders/"+order.OrderID.String(), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			w := &discardWriter{header: http.Header{}}
			api.ServeHTTP(w, req) // the miss that fills the cache
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.header)
				w.status, w.written = 0, 0
				api.ServeHTTP(w, req)
			}
			if w.status != http.StatusOK || w.written == 0 {
				b.Fatalf("status %d, %d bytes", w.status, w.written)
			}
		})
	}
}

// benchOrder is an order of a typical size: an address and three lines.
func benchOrder() *readmodel.Order {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	line2 := "Apartment 4"
	o := &readmodel.Order{OrderSummary: readmodel.OrderSummary{
		OrderID: uuid.New(), CustomerID: "cust-42", Status: "placed", Currency: "EUR", TotalCents: 7497,
		ItemCount: 3, LineCount: 3, Version: 5, Position: eventstore.Position{Commit: 41, Prepare: 2},
		CreatedAt: now, UpdatedAt: now, PlacedAt: &now,
		ShippingAddress: &readmodel.Address{Name: "Ada Lovelace", Line1: "1 Main St", Line2: &line2,
			City: "Berlin", PostalCode: "10115", Country: "DE"},
	}}
	for _, sku := range []string{"SKU-1", "SKU-2", "SKU-3"} {
		o.Items = append(o.Items, readmodel.Item{SKU: sku, Name: "Espresso beans, 1 kg", Quantity: 1, UnitPriceCents: 2499, LineTotalCents: 2499})
	}
	return o
}

// orderOnly is a read model that holds one order; the benchmark calls nothing else.
type orderOnly struct {
	reader
	order *readmodel.Order
}

func (r orderOnly) Order(context.Context, uuid.UUID) (*readmodel.Order, eventstore.Position, error) {
	return r.order, eventstore.Position{Commit: 42}, nil
}

// discardWriter is a ResponseWriter that keeps the status and counts the body.
type discardWriter struct {
	header  http.Header
	status  int
	written int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.written += len(p)
	return len(p), nil
}
