package queryapi

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, k := range []readmodel.OrderKey{
		{CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC), OrderID: uuid.New()},
		{CreatedAt: time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), OrderID: uuid.New()},
	} {
		c := encodeCursor(k.CreatedAt, k.OrderID)
		at, id, err := decodeCursor(c)
		if err != nil || !at.Equal(k.CreatedAt) || id != k.OrderID {
			t.Errorf("%+v -> %q -> %v %v, %v", k, c, at, id, err)
		}
		if len(c) > maxCursorLength {
			t.Errorf("cursor %q is longer than decodeCursor accepts", c)
		}
	}
}

func TestCursorRejectsForgeries(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	id := uuid.NewString()
	for _, c := range []string{
		"",
		"not base64!",
		enc("1700000000000000"),
		enc("x:" + id),
		enc("+1:" + id),
		enc("1:" + id + "x"),
		enc("1:" + uuid.Nil.String()),
		enc("99999999999999999999:" + id),
		base64.URLEncoding.EncodeToString([]byte("1:" + id)), // padded
	} {
		if _, _, err := decodeCursor(c); err == nil {
			t.Errorf("decodeCursor(%q) accepted", c)
		}
	}
}

func TestETagMatches(t *testing.T) {
	for header, want := range map[string]bool{
		`"3"`: true, `W/"3"`: true, `"1","3"`: true, ` "1" , W/"3" `: true, `*`: true,
		``: false, `"4"`: false, `3`: false, `"3`: false, `W/"33"`: false,
	} {
		if got := etagMatches(header, `"3"`); got != want {
			t.Errorf("etagMatches(%q) = %v, want %v", header, got, want)
		}
	}
}
