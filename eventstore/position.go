package eventstore

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Position is a place in the global log. Callers treat it as a token, but
// its string form is fixed so that clients can compare two of them:
// "commit:prepare" in decimal, compared part by part, numerically. A later
// event always has a greater position.
//
// What the parts mean is the backend's business. EventStoreDB uses its
// commit and prepare positions; PostgreSQL uses the writing transaction and
// the event's sequence number within the log.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// ErrInvalidPosition is returned by ParsePosition.
var ErrInvalidPosition = errors.New("invalid position")

// ParsePosition reads a position token: "c:p", or "c" for "c:0".
func ParsePosition(s string) (Position, error) {
	commit, prepare, two := strings.Cut(s, ":")
	c, err := parsePart(commit)
	if err != nil {
		return Position{}, fmt.Errorf("%w %q: %v", ErrInvalidPosition, s, err)
	}
	var p uint64
	if two {
		if p, err = parsePart(prepare); err != nil {
			return Position{}, fmt.Errorf("%w %q: %v", ErrInvalidPosition, s, err)
		}
	}
	return Position{Commit: c, Prepare: p}, nil
}

func parsePart(s string) (uint64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("want decimal digits")
	}
	return strconv.ParseUint(s, 10, 64)
}

func (p Position) String() string {
	return strconv.FormatUint(p.Commit, 10) + ":" + strconv.FormatUint(p.Prepare, 10)
}

// IsZero reports whether p is the start of the log.
func (p Position) IsZero() bool { return p == Position{} }

// Compare returns -1, 0 or +1 as p is before, at or after q.
func (p Position) Compare(q Position) int {
	if c := cmp.Compare(p.Commit, q.Commit); c != 0 {
		return c
	}
	return cmp.Compare(p.Prepare, q.Prepare)
}

// MarshalText and UnmarshalText make a Position a JSON string token.
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

func (p *Position) UnmarshalText(b []byte) error {
	q, err := ParsePosition(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}
