package httpapi

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func newEcho(h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Echo {
	log := slog.New(slog.DiscardHandler)
	e := echo.New()
	e.HTTPErrorHandler = NewErrorHandler(log)
	e.Use(Trace(nil), AccessLog(log), RequestMeta())
	e.POST("/x", h, m...)
	return e
}

func do(e *echo.Echo, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestRequestMeta(t *testing.T) {
	var got struct{ corr, actor, tp, ts string }
	e := newEcho(func(c echo.Context) error {
		got.corr, got.actor = CorrelationID(c), Actor(c)
		got.tp, got.ts = TraceContext(c)
		return c.NoContent(http.StatusNoContent)
	})
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

	t.Run("defaults", func(t *testing.T) {
		rec := do(e, httptest.NewRequest(http.MethodPost, "/x", nil))
		if rec.Code != http.StatusNoContent || got.corr == "" || got.actor != AnonymousActor || got.tp != "" {
			t.Errorf("status %d, meta %+v", rec.Code, got)
		}
		if rec.Header().Get(HeaderCorrelationID) != got.corr {
			t.Errorf("generated correlation ID not echoed")
		}
	})
	t.Run("given", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/x", nil)
		req.Header.Set(HeaderCorrelationID, "abc-123")
		req.Header.Set(HeaderActor, "alice@example.com")
		req.Header.Set(HeaderTraceParent, tp)
		req.Header.Set(HeaderTraceState, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
		rec := do(e, req)
		if rec.Code != http.StatusNoContent || got.corr != "abc-123" || got.actor != "alice@example.com" ||
			got.tp != tp || got.ts != "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7" {
			t.Errorf("status %d, meta %+v", rec.Code, got)
		}
		if rec.Header().Get(HeaderCorrelationID) != "abc-123" {
			t.Errorf("correlation ID not echoed")
		}
	})
	t.Run("invalid trace context is dropped", func(t *testing.T) {
		for _, bad := range []string{
			"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", // upper case
			"00-00000000000000000000000000000000-b7ad6b7169203331-01", // zero trace ID
			"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", // zero parent ID
			"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", // version ff
			"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
			"garbage",
		} {
			req := httptest.NewRequest(http.MethodPost, "/x", nil)
			req.Header.Set(HeaderTraceParent, bad)
			req.Header.Set(HeaderTraceState, "a=b")
			if rec := do(e, req); rec.Code != http.StatusNoContent || got.tp != "" || got.ts != "" {
				t.Errorf("traceparent %q: status %d, kept %q %q", bad, rec.Code, got.tp, got.ts)
			}
		}
	})
	t.Run("malformed headers are 400s", func(t *testing.T) {
		for header, value := range map[string]string{
			HeaderCorrelationID: strings.Repeat("x", 129),
			HeaderActor:         "bad\x01actor",
		} {
			req := httptest.NewRequest(http.MethodPost, "/x", nil)
			req.Header.Set(header, value)
			rec := do(e, req)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), header) {
				t.Errorf("%s %q: %d %s", header, value, rec.Code, rec.Body)
			}
		}
	})
}

func TestBodyLimit(t *testing.T) {
	read := false
	e := newEcho(func(c echo.Context) error {
		read = true
		_, err := ReadBody(c.Request())
		if err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}, BodyLimit(10))

	rec := do(e, httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(strings.Repeat("x", 11))))
	if rec.Code != http.StatusRequestEntityTooLarge || read {
		t.Errorf("Content-Length over the limit: %d, handler ran: %v", rec.Code, read)
	}

	// Without Content-Length (chunked), reading stops at the limit.
	req := httptest.NewRequest(http.MethodPost, "/x", io.MultiReader(strings.NewReader(strings.Repeat("x", 100))))
	req.ContentLength = -1
	if rec := do(e, req); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body over the limit: %d", rec.Code)
	}

	if rec := do(e, httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("0123456789"))); rec.Code != http.StatusNoContent {
		t.Errorf("body at the limit: %d", rec.Code)
	}
}

func TestRequireJSON(t *testing.T) {
	e := newEcho(func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, RequireJSON())
	for ct, want := range map[string]int{
		"application/json":                  http.StatusNoContent,
		"application/json; charset=utf-8":   http.StatusNoContent,
		"text/plain":                        http.StatusUnsupportedMediaType,
		"":                                  http.StatusUnsupportedMediaType,
		"application/x-www-form-urlencoded": http.StatusUnsupportedMediaType,
	} {
		req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("{}"))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if rec := do(e, req); rec.Code != want {
			t.Errorf("Content-Type %q: %d, want %d", ct, rec.Code, want)
		}
	}
}

func TestPanicIsA500(t *testing.T) {
	e := newEcho(func(echo.Context) error { panic("boom") })
	if rec := do(e, httptest.NewRequest(http.MethodPost, "/x", nil)); rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
}

func TestDecodeJSON(t *testing.T) {
	type body struct {
		SKU      string `json:"sku"`
		Quantity *int64 `json:"quantity"`
	}
	tests := []struct {
		body      string
		wantField string // "" means a whole-body problem
	}{
		{`{"sku":"a","extra":1}`, "extra"},
		{`{"sku":1}`, "sku"},
		{`{"quantity":"3"}`, "quantity"},
		{`{"quantity":1.5}`, "quantity"},
		{`{"sku":"a"`, ""},
		{`{"sku":"a"}{}`, ""},
		{`[]`, ""},
		{`null`, ""},
		{``, ""},
		{`{sku:1}`, ""},
	}
	for _, tt := range tests {
		var v body
		err := DecodeJSON([]byte(tt.body), &v)
		var verr *ValidationError
		if !errors.As(err, &verr) {
			t.Errorf("%s: error = %v, want a *ValidationError", tt.body, err)
			continue
		}
		if tt.wantField == "" && (verr.Detail == "" || len(verr.Fields) != 0) {
			t.Errorf("%s: %+v, want a whole-body problem", tt.body, verr)
		}
		if tt.wantField != "" && (len(verr.Fields) != 1 || verr.Fields[0].Field != tt.wantField) {
			t.Errorf("%s: %+v, want field %s", tt.body, verr, tt.wantField)
		}
	}
	var v body
	if err := DecodeJSON([]byte(` {"sku":"a","quantity":2} `), &v); err != nil || v.SKU != "a" || *v.Quantity != 2 {
		t.Errorf("valid body: %+v, %v", v, err)
	}
}

func TestParseIfMatch(t *testing.T) {
	good := map[string]uint64{`"0"`: 0, `"3"`: 3, ` "42" `: 42, `"18446744073709551615"`: 1<<64 - 1}
	for h, want := range good {
		v, err := ParseIfMatch(h)
		if err != nil || v == nil || *v != want {
			t.Errorf("ParseIfMatch(%s) = %v, %v; want %d", h, v, err, want)
		}
	}
	if v, err := ParseIfMatch(""); v != nil || err != nil {
		t.Errorf("ParseIfMatch(\"\") = %v, %v; want nil, nil", v, err)
	}
	for _, bad := range []string{`W/"3"`, `3`, `"3`, `*`, `"3", "4"`, `"-1"`, `"+3"`, `"abc"`, `""`, `"18446744073709551616"`} {
		var verr *ValidationError
		if _, err := ParseIfMatch(bad); !errors.As(err, &verr) || verr.Fields[0].Field != "If-Match" {
			t.Errorf("ParseIfMatch(%s) = %v, want a 400 on If-Match", bad, err)
		}
	}
	if ETag(7) != `"7"` {
		t.Errorf("ETag(7) = %s", ETag(7))
	}
}
