package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/internal/auth"
)

// limited is an echo with m in front of POST /x and GET /healthz.
func limited(h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = NewErrorHandler(slog.New(slog.DiscardHandler))
	e.Use(m...)
	e.POST("/x", h)
	e.GET("/healthz", Healthz)
	return e
}

func TestRateLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	rl := RateLimit(RateLimitConfig{Rate: 2, Burst: 3, MaxClients: 2, Now: func() time.Time { return now }})
	e := limited(func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, rl)
	from := func(ip string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/x", nil)
		req.RemoteAddr = ip + ":1234"
		return do(e, req)
	}

	for i := range 3 {
		if rec := from("10.0.0.1"); rec.Code != http.StatusNoContent {
			t.Fatalf("request %d within the burst: %d", i, rec.Code)
		}
	}
	rec := from("10.0.0.1")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("over the burst: %d", rec.Code)
	}
	// 2 per second: the next token is 0.5 s away, which Retry-After rounds up to 1.
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if p := decodeProblem(t, rec); p.Type != ProblemTypeBase+"rate-limited" {
		t.Errorf("problem %+v", p)
	}
	if rec := from("10.0.0.2"); rec.Code != http.StatusNoContent {
		t.Errorf("another client is limited too: %d", rec.Code)
	}
	if rec := do(e, httptest.NewRequest(http.MethodGet, "/healthz", nil)); rec.Code != http.StatusOK {
		t.Errorf("health check limited: %d", rec.Code)
	}
	now = now.Add(500 * time.Millisecond)
	if rec := from("10.0.0.1"); rec.Code != http.StatusNoContent {
		t.Errorf("after the bucket refilled a token: %d", rec.Code)
	}
	// A refused request gives its token back: it does not push the client's next chance further out.
	for range 5 {
		from("10.0.0.1")
	}
	now = now.Add(500 * time.Millisecond)
	if rec := from("10.0.0.1"); rec.Code != http.StatusNoContent {
		t.Errorf("refused requests used up tokens: %d", rec.Code)
	}
}

func TestBucketsAreBounded(t *testing.T) {
	b := newBuckets(1, 1, 3)
	a := b.get("a")
	b.get("b")
	b.get("c")
	b.get("a") // a is now the most recent, b the least
	b.get("d")
	if n := b.size(); n != 3 {
		t.Fatalf("%d buckets, want the bound 3", n)
	}
	if b.get("a") != a {
		t.Error("the recently used bucket was evicted")
	}
	b.mu.Lock()
	_, kept := b.byKey["b"]
	b.mu.Unlock()
	if kept {
		t.Error("the least recently used bucket was kept")
	}
}

func TestMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	e := limited(func(c echo.Context) error {
		entered <- struct{}{}
		<-release
		return c.NoContent(http.StatusNoContent)
	}, MaxInFlight(2))
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Go(func() { codes <- do(e, httptest.NewRequest(http.MethodPost, "/x", nil)).Code })
	}
	<-entered
	<-entered
	rec := do(e, httptest.NewRequest(http.MethodPost, "/x", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("third request in flight: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if p := decodeProblem(t, rec); p.Type != ProblemTypeBase+"overloaded" {
		t.Errorf("problem %+v", p)
	}
	if rec := do(e, httptest.NewRequest(http.MethodGet, "/healthz", nil)); rec.Code != http.StatusOK {
		t.Errorf("health check shed: %d", rec.Code)
	}
	close(release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusNoContent {
			t.Errorf("a request within the bound: %d", code)
		}
	}
	if rec := do(e, httptest.NewRequest(http.MethodPost, "/x", nil)); rec.Code != http.StatusNoContent {
		t.Errorf("after the others finished: %d", rec.Code)
	}
}

func TestGuard(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := auth.NewVerifier(auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	token := func(sub string) string {
		s, err := auth.SignHS256(secret, sub, auth.Customer, "", "", time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var seen string
	g := Guard{MaxInFlight: 10, Verifier: v, RateLimit: RateLimitConfig{Rate: 1, Burst: 1}}
	e := limited(func(c echo.Context) error {
		seen = auth.FromContext(c.Request().Context()).Subject
		return c.NoContent(http.StatusNoContent)
	}, g.Middleware()...)
	send := func(authorization string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/x", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		return do(e, req)
	}

	rec := send("")
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != `Bearer realm="orderflow"` {
		t.Errorf("no token: %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if p := decodeProblem(t, rec); p.Type != ProblemTypeBase+"unauthenticated" {
		t.Errorf("problem %+v", p)
	}
	for _, bad := range []string{"Basic dXNlcjpwYXNz", "Bearer nonsense", "Bearer " + token("c-1") + "x"} {
		rec := send(bad)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%q: %d", bad, rec.Code)
		}
	}
	if h := send("Bearer nonsense").Header().Get("WWW-Authenticate"); h == "" || !strings.Contains(h, `error="invalid_token"`) {
		t.Errorf("bad token's challenge %q", h)
	}
	if rec := send("Bearer " + token("c-1")); rec.Code != http.StatusNoContent || seen != "c-1" {
		t.Errorf("valid token: %d, principal %q", rec.Code, seen)
	}
	// The rate limit counts per subject: c-1 spent its one token, c-2 has its own.
	if rec := send("Bearer " + token("c-1")); rec.Code != http.StatusTooManyRequests {
		t.Errorf("c-1 again: %d", rec.Code)
	}
	if rec := send("Bearer " + token("c-2")); rec.Code != http.StatusNoContent {
		t.Errorf("c-2: %d", rec.Code)
	}
	if rec := do(e, httptest.NewRequest(http.MethodGet, "/healthz", nil)); rec.Code != http.StatusOK {
		t.Errorf("health check needs a token: %d", rec.Code)
	}
}
