package queryapi

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// A cursor is a list's token for its next page: the key of the last item of the page, as
// base64url("<time in Unix microseconds>:<UUID>"). GET /orders keys orders by (created_at, order_id),
// GET /audit entries by (recorded_at, event_id). Clients treat it as opaque; the server checks it
// fully before use, so a forged one (or one from the other list) can only start a list at some point,
// never widen it.
//
// Microseconds because that is PostgreSQL's timestamp precision: the key round-trips exactly, which
// keyset pagination needs (an item at the boundary is neither skipped nor repeated).

// maxCursorLength bounds what decodeCursor reads: a 20-digit number, a colon and a UUID, encoded.
const maxCursorLength = 80

var errCursor = errors.New("is not a cursor from a previous page of this list")

func encodeCursor(at time.Time, id uuid.UUID) string {
	raw := strconv.FormatInt(at.UnixMicro(), 10) + ":" + id.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (time.Time, uuid.UUID, error) {
	if s == "" || len(s) > maxCursorLength {
		return time.Time{}, uuid.Nil, errCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, uuid.Nil, errCursor
	}
	micros, rawID, ok := strings.Cut(string(raw), ":")
	if !ok {
		return time.Time{}, uuid.Nil, errCursor
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil || strings.TrimLeft(micros, "-0123456789") != "" {
		return time.Time{}, uuid.Nil, errCursor
	}
	id, err := parseUUID(rawID)
	if err != nil {
		return time.Time{}, uuid.Nil, errCursor
	}
	return time.UnixMicro(us).UTC(), id, nil
}
