// Package serve runs an HTTP server until its context ends and then shuts
// it down gracefully: the one way the three services serve, kept free of
// any framework so that every binary can use it.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options configure Serve.
type Options struct {
	Logger *slog.Logger
	// LogAttrs are added to the "listening" line after the address.
	LogAttrs []any
	// ShutdownTimeout is how long in-flight requests get once ctx has ended.
	ShutdownTimeout time.Duration
	// BeforeShutdown, if set, runs once ctx has ended and before the server stops accepting
	// connections, so that what it waits for can still be observed over HTTP.
	BeforeShutdown func()
}

// Serve serves srv on ln until ctx ends, then shuts it down gracefully. It logs "listening" with the
// address once serving (with port 0 that is how callers learn the port) and "shutting down" when ctx
// ends. It returns nil after a clean shutdown. srv.ErrorLog defaults to the logger at warn level.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, opts Options) error {
	log := opts.Logger
	if srv.ErrorLog == nil {
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", append([]any{"addr", ln.Addr().String()}, opts.LogAttrs...)...)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", opts.ShutdownTimeout.String())
	if opts.BeforeShutdown != nil {
		opts.BeforeShutdown()
	}
	// Not derived from ctx, which has ended: in-flight requests get their own deadline to finish.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
