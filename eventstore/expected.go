package eventstore

import "fmt"

// ExpectedVersion is what an append requires of its stream. The zero value
// is Any.
type ExpectedVersion struct {
	kind    expectation
	version uint64
}

type expectation uint8

const (
	expectAny expectation = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// Any accepts the stream in any state.
func Any() ExpectedVersion { return ExpectedVersion{kind: expectAny} }

// NoStream requires that the stream has no events.
func NoStream() ExpectedVersion { return ExpectedVersion{kind: expectNoStream} }

// StreamExists requires that the stream has at least one event.
func StreamExists() ExpectedVersion { return ExpectedVersion{kind: expectStreamExists} }

// Exact requires that the stream is at version v. Exact(0) is NoStream.
func Exact(v uint64) ExpectedVersion {
	if v == 0 {
		return NoStream()
	}
	return ExpectedVersion{kind: expectExact, version: v}
}

// IsAny, IsNoStream and IsStreamExists tell which expectation this is;
// Exact reports the version for an exact expectation.
func (e ExpectedVersion) IsAny() bool          { return e.kind == expectAny }
func (e ExpectedVersion) IsNoStream() bool     { return e.kind == expectNoStream }
func (e ExpectedVersion) IsStreamExists() bool { return e.kind == expectStreamExists }

// Exact returns the version and true for an exact expectation.
func (e ExpectedVersion) Exact() (uint64, bool) { return e.version, e.kind == expectExact }

// Allows reports whether a stream at version actual (0: no stream)
// satisfies the expectation.
func (e ExpectedVersion) Allows(actual uint64) bool {
	switch e.kind {
	case expectNoStream:
		return actual == 0
	case expectStreamExists:
		return actual > 0
	case expectExact:
		return actual == e.version
	default:
		return true
	}
}

func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectExact:
		return fmt.Sprintf("version %d", e.version)
	default:
		return "any version"
	}
}
