package backend

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/migrations"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		url  string
		want Kind
	}{
		{"postgres://u@localhost/db", Postgres},
		{"postgresql://u@localhost/db", Postgres},
		{"PostgreSQL://u@localhost/db", Postgres},
		{"esdb://localhost:2113?tls=false", EventStoreDB},
		{"esdb+discover://localhost:2113", EventStoreDB},
		{"kurrentdb://admin:changeit@localhost:2113?tls=false", EventStoreDB},
		{"kurrentdb+discover://localhost:2113", EventStoreDB},
		{"kurrent://localhost:2113", EventStoreDB},
	}
	for _, tt := range tests {
		got, err := KindOf(tt.url)
		if err != nil || got != tt.want {
			t.Errorf("KindOf(%q) = %v, %v; want %v", tt.url, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "localhost:5432", "mysql://u@localhost/db", "host=localhost dbname=x"} {
		if _, err := KindOf(bad); !errors.Is(err, ErrUnknownScheme) {
			t.Errorf("KindOf(%q) error = %v, want ErrUnknownScheme", bad, err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	const db = "postgres://u:secret@localhost/db"
	for _, tt := range []struct {
		url, fallback string
		ok            bool
		inError       string
	}{
		{"", "", true, ""},
		{db, db, true, ""},
		{"esdb://localhost:2113?tls=false", db, true, ""},
		{"postgres://u:secret@other/events", db, true, ""},
		{"mysql://u:secret@x/db", "mysql://u:secret@x/db", false, "DATABASE_URL is not a postgres:// URL"},
		{"mysql://u:secret@x/db", db, false, "unknown event store scheme"},
		{"postgres://u:secret@host:notaport/x", db, false, "not a valid PostgreSQL connection string"},
	} {
		err := CheckURL(tt.url, tt.fallback)
		if (err == nil) != tt.ok || (err != nil && (!strings.Contains(err.Error(), tt.inError) || strings.Contains(err.Error(), "secret"))) {
			t.Errorf("CheckURL(%q, %q) = %v", tt.url, tt.fallback, err)
		}
	}
}

func TestOpenPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := migrations.Up(ctx, url, migrations.EventStore()); err != nil {
		t.Fatal(err)
	}
	store, closeStore, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	res, err := store.Append(ctx, "order-1", eventstore.NoStream(), eventstore.EventData{
		ID: uuid.New(), Type: "OrderCreated", SchemaVersion: 1, Data: []byte(`{}`),
	})
	if err != nil || res.Version != 1 {
		t.Fatalf("Append = %+v, %v", res, err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for _, url := range []string{"postgres://x@127.0.0.1:1/x?connect_timeout=2", "esdb://127.0.0.1:1?tls=false"} {
		if _, _, err := Open(ctx, url, Options{Timeout: 2 * time.Second}); !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("Open(%s) error = %v, want ErrUnavailable", url, err)
		}
	}
}
