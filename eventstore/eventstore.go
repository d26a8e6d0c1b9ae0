// Package eventstore defines the event store the order platform is built on:
// append-only streams with optimistic concurrency, and one global log that
// every event enters in a single, stable order.
//
// The command side appends to a stream per order and reads it back; the
// projector tails the global log with ReadAll; the audit trail reads both.
// Backends live in subpackages (postgres, esdb, memory) and are held to one
// contract by the conformance suite in eventstore/storetest.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Store is the whole event store as its users see it. Implementations are
// safe for concurrent use.
type Store interface {
	Appender
	StreamReader
	LogReader
}

// Appender writes events.
type Appender interface {
	// Append writes events to the end of stream, all or none, if the stream
	// matches expected. It returns the stream's version after the append and
	// the global position of the last event written.
	//
	// A mismatch returns a *VersionConflictError (errors.Is
	// ErrWrongExpectedVersion) that carries the actual version. Appending
	// events whose IDs were all already written to stream right after
	// expected (same IDs, same order) succeeds without writing anything and
	// reports the original result: that makes retries safe. The same IDs
	// at an expectation behind the stream's end are an error:
	// ErrDuplicateEventID where the backend indexes event IDs across the log
	// (PostgreSQL, memory), a version conflict where IDs are scoped to their
	// stream (EventStoreDB). EventStoreDB keeps no index of event IDs, so
	// there the same IDs appended at the stream's current end, or to another
	// stream, are written again: callers must not reuse IDs on purpose.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)
}

// StreamReader reads one stream.
type StreamReader interface {
	// ReadStream returns up to max events of stream with version >= from, in
	// version order. A stream with no events returns ErrStreamNotFound.
	// Reading past the end of an existing stream returns no events.
	ReadStream(ctx context.Context, stream string, from uint64, max int) ([]RecordedEvent, error)
}

// LogReader reads the global log.
type LogReader interface {
	// ReadAll returns up to max events recorded strictly after position from,
	// in log order. The zero Position reads from the start. A reader that
	// passes the position of the last event it got as the next from sees
	// every event exactly once, even while writers commit concurrently.
	ReadAll(ctx context.Context, from Position, max int) ([]RecordedEvent, error)
	// Head returns the position of the last event a ReadAll can return now,
	// or the zero Position for an empty log.
	Head(ctx context.Context) (Position, error)
}

// EventData is an event to append.
type EventData struct {
	// ID identifies the event; appends are idempotent on it.
	ID uuid.UUID
	// Type is the durable event type name, such as "OrderPaid".
	Type string
	// SchemaVersion is the version of Data's shape, for upcasting.
	SchemaVersion int
	// Data is the JSON payload.
	Data     json.RawMessage
	Metadata Metadata
}

// Metadata says where an event came from.
type Metadata struct {
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	Actor         string `json:"actor,omitempty"`
	Command       string `json:"command,omitempty"`
	// TraceParent and TraceState are the W3C trace context of the command
	// that wrote the event.
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
}

// RecordedEvent is an event as the store holds it.
type RecordedEvent struct {
	ID            uuid.UUID
	StreamID      string
	Version       uint64 // 1-based and contiguous within the stream
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
	RecordedAt    time.Time
	Position      Position
}

// AppendResult is the outcome of a successful append.
type AppendResult struct {
	// Version is the stream's version after the append.
	Version uint64
	// Position is the global position of the last event appended.
	Position Position
}

// Sentinel errors. Backends wrap them; test with errors.Is.
var (
	// ErrWrongExpectedVersion: the stream was not at the expected version.
	// The error is a *VersionConflictError.
	ErrWrongExpectedVersion = errors.New("wrong expected version")
	// ErrStreamNotFound: the stream has no events.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrDuplicateEventID: an event ID was already used by another event.
	ErrDuplicateEventID = errors.New("duplicate event id")
	// ErrUnavailable: the store could not be reached; the call may succeed
	// if retried later.
	ErrUnavailable = errors.New("event store unavailable")
	// ErrNotWritten comes with a failure (ErrUnavailable, a context's error)
	// that happened before the call reached the store: the connection could
	// not be made, or the append was still waiting its turn. Such an append
	// wrote nothing. A failed append without it may have been written.
	ErrNotWritten = errors.New("nothing was sent to the store")
	// ErrInvalidEvent: an event or argument was rejected before anything
	// was written (empty stream name, no type, data that is not JSON).
	ErrInvalidEvent = errors.New("invalid event")
)

// VersionConflictError reports an append whose expectation did not hold.
type VersionConflictError struct {
	Stream   string
	Expected ExpectedVersion
	// Actual is the stream's version when the append was refused; 0 means
	// the stream does not exist.
	Actual uint64
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("append to %s: expected %s, stream at version %d: %v",
		e.Stream, e.Expected, e.Actual, ErrWrongExpectedVersion)
}

func (e *VersionConflictError) Unwrap() error { return ErrWrongExpectedVersion }

// Validate checks what every backend requires of an append before it
// writes anything.
func Validate(stream string, events []EventData) error {
	if stream == "" {
		return fmt.Errorf("%w: empty stream name", ErrInvalidEvent)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: no events to append to %s", ErrInvalidEvent, stream)
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		switch {
		case e.ID == uuid.Nil:
			return fmt.Errorf("%w: event %d of %s has no ID", ErrInvalidEvent, i, stream)
		case e.Type == "":
			return fmt.Errorf("%w: event %d of %s has no type", ErrInvalidEvent, i, stream)
		case e.SchemaVersion < 1:
			return fmt.Errorf("%w: event %d of %s has schema version %d, want >= 1", ErrInvalidEvent, i, stream, e.SchemaVersion)
		case !json.Valid(e.Data):
			return fmt.Errorf("%w: event %d of %s: data is not JSON", ErrInvalidEvent, i, stream)
		}
		if _, dup := seen[e.ID]; dup {
			return fmt.Errorf("%w: event ID %s appears twice in one append", ErrInvalidEvent, e.ID)
		}
		seen[e.ID] = struct{}{}
	}
	return nil
}
