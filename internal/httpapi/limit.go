package httpapi

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/orderflow/orderflow/internal/auth"
)

var (
	// ErrRateLimited: the client sent more requests than its share (HTTP 429).
	ErrRateLimited = errors.New("too many requests from this client")
	// ErrOverloaded: the service has as many requests in flight as it takes (HTTP 503).
	ErrOverloaded = errors.New("the service is overloaded")
)

// LimitError refuses a request for now; it matches ErrRateLimited or ErrOverloaded and says when to
// come back.
type LimitError struct {
	Err  error
	Wait time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v (retry in %s)", e.Err, e.Wait.Round(time.Millisecond))
}
func (e *LimitError) Unwrap() error             { return e.Err }
func (e *LimitError) RetryAfter() time.Duration { return e.Wait }

// Operational reports the routes that load balancers, orchestrators and scrapers call, which neither
// need a token nor count against limits: /healthz, /readyz, /metrics and /openapi.json.
func Operational(c echo.Context) bool {
	switch c.Path() {
	case "/healthz", "/readyz", "/metrics", "/openapi.json":
		return true
	}
	return false
}

// ClientKey names who a request counts against: the token's subject when it was authenticated, else
// the client's IP address (echo's RealIP: set Echo.IPExtractor to trust X-Forwarded-For only from
// the load balancer).
func ClientKey(c echo.Context) string {
	if p := auth.FromContext(c.Request().Context()); p != nil {
		return "sub:" + p.Subject
	}
	return "ip:" + c.RealIP()
}

// RateLimitConfig configures [RateLimit].
type RateLimitConfig struct {
	// Rate is each client's sustained requests per second; Burst how many it may send at once.
	Rate  float64
	Burst int
	// MaxClients bounds the buckets kept (default 10,000). The least recently seen client's bucket goes
	// first; a client evicted and seen again starts with a full bucket, which with MaxClients well
	// above the number of active clients only ever forgives clients that went quiet.
	MaxClients int
	// Key names the client (default ClientKey).
	Key func(echo.Context) string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// RateLimit gives each client a token bucket (golang.org/x/time/rate) and refuses a request that finds
// its bucket empty with a *LimitError (429) whose Retry-After is when the bucket holds a token again.
// Operational routes are exempt.
func RateLimit(cfg RateLimitConfig) echo.MiddlewareFunc {
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 10_000
	}
	if cfg.Key == nil {
		cfg.Key = ClientKey
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := newBuckets(rate.Limit(cfg.Rate), cfg.Burst, cfg.MaxClients)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if Operational(c) {
				return next(c)
			}
			now := cfg.Now()
			r := b.get(cfg.Key(c)).ReserveN(now, 1)
			if wait := r.DelayFrom(now); !r.OK() || wait > 0 {
				r.CancelAt(now) // give the token back: this request will not be served
				if !r.OK() {
					wait = time.Second
				}
				return &LimitError{Err: ErrRateLimited, Wait: wait}
			}
			return next(c)
		}
	}
}

// buckets is a bounded least-recently-used map from client to its limiter.
type buckets struct {
	limit rate.Limit
	burst int
	max   int

	mu    sync.Mutex
	byKey map[string]*list.Element
	lru   *list.List // of *bucket, most recent first
}

func newBuckets(limit rate.Limit, burst, max int) *buckets {
	return &buckets{limit: limit, burst: burst, max: max, byKey: map[string]*list.Element{}, lru: list.New()}
}

type bucket struct {
	key string
	lim *rate.Limiter
}

func (b *buckets) get(key string) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.byKey[key]; ok {
		b.lru.MoveToFront(el)
		return el.Value.(*bucket).lim
	}
	if b.lru.Len() >= b.max {
		oldest := b.lru.Back()
		b.lru.Remove(oldest)
		delete(b.byKey, oldest.Value.(*bucket).key)
	}
	lim := rate.NewLimiter(b.limit, b.burst)
	b.byKey[key] = b.lru.PushFront(&bucket{key: key, lim: lim})
	return lim
}

// size returns how many clients have a bucket, for tests.
func (b *buckets) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Len()
}

// MaxInFlight bounds the requests being served at once. One over the bound is refused at once with a
// *LimitError (503, Retry-After: 1) instead of queueing: under overload the service keeps answering
// the requests it took in time, rather than letting every request wait until all time out.
// Operational routes are exempt, so that health checks still answer.
func MaxInFlight(n int) echo.MiddlewareFunc {
	slots := make(chan struct{}, n)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if Operational(c) {
				return next(c)
			}
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
				return next(c)
			default:
				return &LimitError{Err: ErrOverloaded, Wait: time.Second}
			}
		}
	}
}

// Guard is the protection in front of an API's routes, in this order: the bound on requests in flight
// (cheapest, so it also sheds floods of bad tokens), authentication, then each client's rate limit
// (after authentication, so that it counts per token subject rather than per proxy address).
type Guard struct {
	// MaxInFlight bounds concurrent requests (0: no bound).
	MaxInFlight int
	// Verifier checks bearer tokens (nil: authentication off, AUTH=off).
	Verifier *auth.Verifier
	// RateLimit is each client's token bucket (Rate 0: no limit).
	RateLimit RateLimitConfig
}

// Middleware returns the guard's middleware, for Echo.Use.
func (g Guard) Middleware() []echo.MiddlewareFunc {
	var m []echo.MiddlewareFunc
	if g.MaxInFlight > 0 {
		m = append(m, MaxInFlight(g.MaxInFlight))
	}
	if g.Verifier != nil {
		m = append(m, auth.Middleware(g.Verifier, Operational))
	}
	if g.RateLimit.Rate > 0 {
		m = append(m, RateLimit(g.RateLimit))
	}
	return m
}
