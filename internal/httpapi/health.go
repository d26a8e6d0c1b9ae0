package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Check reports whether a dependency answers.
type Check func(ctx context.Context) error

// Healthz answers 200 while the process serves HTTP at all.
func Healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz answers 200 when every check passes within timeout, 503 otherwise, with each check's outcome
// by name ("ok" or "unavailable"). Failures are logged, not shown.
func Readyz(checks map[string]Check, timeout time.Duration, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), timeout)
		defer cancel()
		var (
			mu      sync.Mutex
			wg      sync.WaitGroup
			results = make(map[string]string, len(checks))
			ready   = true
		)
		for name, check := range checks {
			wg.Go(func() {
				err := check(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					ready = false
					results[name] = "unavailable"
					log.WarnContext(ctx, "readiness check failed", "check", name, "error", err)
					return
				}
				results[name] = "ok"
			})
		}
		wg.Wait()
		if !ready {
			c.Response().Header().Set("Retry-After", "1")
			return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "checks": results})
		}
		return c.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": results})
	}
}
