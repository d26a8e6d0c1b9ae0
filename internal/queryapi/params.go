package queryapi

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/internal/httpapi"
)

// queryParams parses the request's query string, each parameter at most once and only the ones
// named (min_position is allowed everywhere). Unknown parameters are refused rather than ignored: a
// typo such as ?customerId= would otherwise silently widen a list to every customer's orders.
func queryParams(c echo.Context, f *httpapi.Fields, allowed ...string) map[string]string {
	values, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		f.Addf("query", "is not a valid query string")
		return nil
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names) // errors in a stable order
	out := make(map[string]string, len(values))
	for _, name := range names {
		switch vs := values[name]; {
		case name != "min_position" && !slices.Contains(allowed, name):
			f.Addf(name, "is not a parameter of this endpoint")
		case len(vs) > 1:
			f.Addf(name, "must be given once")
		default:
			out[name] = vs[0]
		}
	}
	return out
}

// pathParam returns a path parameter decoded. Echo matches on the escaped path when the request's
// path has escapes that its default encoding would not produce, and leaves the parameter escaped
// then.
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, nil
	}
	u, err := url.PathUnescape(v)
	if err != nil {
		return "", errors.New("is not a valid path segment")
	}
	return u, nil
}

// orderIDParam reads the :id path parameter as an order ID; an invalid one is a field error "id".
func orderIDParam(c echo.Context, f *httpapi.Fields) uuid.UUID {
	raw, err := pathParam(c, "id")
	if err == nil {
		var id uuid.UUID
		if id, err = parseUUID(raw); err == nil {
			return id
		}
	}
	f.Add("id", err)
	return uuid.Nil
}

// parseUUID accepts the canonical 36-character form only, as the command API does: one order, one
// spelling (uuid.Parse also takes braces, URNs and no hyphens). The nil UUID is no order's.
func parseUUID(s string) (uuid.UUID, error) {
	if len(s) == 36 {
		if id, err := uuid.Parse(s); err == nil && id != uuid.Nil {
			return id, nil
		}
	}
	return uuid.Nil, errors.New("must be a UUID in its canonical form, such as 0b9f3c56-6f1e-4c8e-9a57-2d5b6c0f7e21, and not the nil UUID")
}

// etagMatches reports whether an If-None-Match header matches etag, by the weak comparison RFC 9110
// prescribes for it (13.1.2): W/"3" matches "3", and * matches any current representation.
func etagMatches(header, etag string) bool {
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}
