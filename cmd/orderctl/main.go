// Command orderctl is the order platform's operator command line (internal/orderctl):
//
//	orderctl audit <order-id> [--from-version N] [--json] [--query-api URL] [--token T]
//
// prints an order's timeline (time, version, event, actor, correlation ID, key fields) from the
// event store, read through the query API at --query-api, QUERY_API_URL or http://127.0.0.1:8081,
// with the bearer token --token or ORDERFLOW_TOKEN when the API requires one.
// It goes through the API rather than to the store so that it needs no database credentials, works
// with either event-store backend and is subject to the API's access control.
//
// Exit status: 0 on success, 1 when the command fails (unknown order, API unavailable), 2 for bad
// arguments.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orderflow/orderflow/internal/orderctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := orderctl.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
