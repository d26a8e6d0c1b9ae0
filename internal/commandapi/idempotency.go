package commandapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/idempotency"
)

// HeaderIdempotencyKey names the request header of idempotency keys.
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderReplayed marks a response replayed from an idempotency record.
const HeaderReplayed = "Idempotent-Replayed"

// idempotent runs a request with an Idempotency-Key once per key (see idempotency.Store.Do): it records
// the response the handler produced, error responses included, and replays it to repeats.
//
// The response is captured rather than rebuilt from the handler's result so that a repeat gets the
// very same status, headers and bytes, whatever the handler did. Outcomes that a retry could change
// are not recorded: server errors, 429 and 503, and a 409 for running out of retries against
// concurrent changes (the order may be quieter next time). Rule violations (other 409s), 4xx input
// errors and successes are recorded.
func idempotent(store keyStore) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if len(req.Header.Values(HeaderIdempotencyKey)) == 0 {
				return next(c)
			}
			key := req.Header.Get(HeaderIdempotencyKey)
			if err := idempotency.CheckKey(key); err != nil {
				var f httpapi.Fields
				f.Add(HeaderIdempotencyKey, err)
				return f.Err()
			}
			body, err := httpapi.ReadBody(req)
			if err != nil {
				return err
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			hash := idempotency.RequestHash(req.Method, req.URL.EscapedPath(), req.Header.Get("If-Match"), body)

			var first http.Header // every header of a response produced now, not only the replayed ones
			resp, replayed, err := store.Do(req.Context(), scopedKey(auth.FromContext(req.Context()), key), hash, func(context.Context) (idempotency.Response, bool) {
				rec, herr := capture(c, next)
				first = rec.header
				return rec.response(), recordable(rec.status, herr)
			})
			if err != nil {
				return err
			}
			out := c.Response()
			if replayed {
				out.Header().Set(HeaderReplayed, "true")
				for name, value := range resp.Header {
					out.Header().Set(name, value)
				}
			} else {
				for name, values := range first {
					out.Header()[name] = values
				}
			}
			out.WriteHeader(resp.Status)
			_, err = out.Write(resp.Body)
			return err
		}
	}
}

func recordable(status int, err error) bool {
	switch {
	case status >= 500, status == http.StatusTooManyRequests:
		return false
	case errors.Is(err, command.ErrConflict):
		return false
	}
	return true
}

// capture runs next with a response recorder in place of the real response, rendering an error the
// way the error handler does, and puts the real response back.
func capture(c echo.Context, next echo.HandlerFunc) (*recorder, error) {
	rec := &recorder{header: http.Header{}}
	real := c.Response()
	c.SetResponse(echo.NewResponse(rec, c.Echo()))
	defer c.SetResponse(real)
	err := next(c)
	if err != nil {
		c.Error(err)
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec, err
}

// recorder is an http.ResponseWriter that keeps the response in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// response returns what is recorded for replay: status, body and the headers that describe them.
func (r *recorder) response() idempotency.Response {
	h := map[string]string{}
	for _, name := range []string{echo.HeaderContentType, echo.HeaderLocation, "ETag"} {
		if v := r.header.Get(name); v != "" {
			h[name] = v
		}
	}
	return idempotency.Response{Status: r.status, Header: h, Body: bytes.Clone(r.body.Bytes())}
}

// scopedKey is the key under which a client's idempotency key is recorded and its events derived:
// scoped to the token's subject, so that two clients who pick the same key neither see each other's
// responses nor collide on derived order and event IDs. Without authentication keys are global, as
// they were before it existed (so that repeats of requests made then still match).
func scopedKey(p *auth.Principal, key string) string {
	if p == nil || key == "" {
		return key
	}
	return idempotency.Scoped(p.Subject, key)
}
