package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestServerStopsAndStarts(t *testing.T) {
	s := StartServer(t)
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.URL())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return conn.Ping(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("started server: %v", err)
	}
	s.Stop()
	if err := ping(); err == nil {
		t.Fatal("stopped server still answers")
	}
	s.Start()
	if err := ping(); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
}
