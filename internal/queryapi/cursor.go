package queryapi

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// A cursor is GET /orders' token for the next page: the key of the last order of the page, as
// base64url("<created_at in Unix microseconds>:<order ID>"). Clients treat it as opaque; the server
// checks it fully before use, so a forged one can only start a list at some point, never widen it.
//
// Microseconds because that is PostgreSQL's timestamp precision: the key round-trips exactly, which
// keyset pagination needs (an order at the boundary is neither skipped nor repeated).

// maxCursorLength bounds what decodeCursor reads: a 20-digit number, a colon and a UUID, encoded.
const maxCursorLength = 80

var errCursor = errors.New("is not a cursor from a previous page of this list")

func encodeCursor(k readmodel.OrderKey) string {
	raw := strconv.FormatInt(k.CreatedAt.UnixMicro(), 10) + ":" + k.OrderID.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (readmodel.OrderKey, error) {
	if s == "" || len(s) > maxCursorLength {
		return readmodel.OrderKey{}, errCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return readmodel.OrderKey{}, errCursor
	}
	micros, id, ok := strings.Cut(string(raw), ":")
	if !ok {
		return readmodel.OrderKey{}, errCursor
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil || strings.TrimLeft(micros, "-0123456789") != "" {
		return readmodel.OrderKey{}, errCursor
	}
	orderID, err := parseUUID(id)
	if err != nil {
		return readmodel.OrderKey{}, errCursor
	}
	return readmodel.OrderKey{CreatedAt: time.UnixMicro(us).UTC(), OrderID: orderID}, nil
}
