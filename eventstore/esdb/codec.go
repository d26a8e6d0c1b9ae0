package esdb

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orderflow/orderflow/eventstore"
)

// Versions and revisions. Our versions are 1-based (version n is the n-th
// event, 0 means no stream); EventStoreDB revisions are 0-based. The
// mapping holds only while nothing truncates a stream (deletion, $maxCount,
// $maxAge, $tb), which this platform never does: ESDB keeps counting
// revisions after such a cut, so a stream would no longer start at 1.

// expectedRevision maps an expectation onto the client's.
func expectedRevision(e eventstore.ExpectedVersion) esdb.ExpectedRevision {
	switch {
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	}
	if v, ok := e.Exact(); ok {
		if v == 0 { // eventstore.Exact(0) is NoStream; be safe anyway
			return esdb.NoStream{}
		}
		return esdb.Revision(v - 1)
	}
	return esdb.Any{}
}

// versionOf is the version of the event at revision.
func versionOf(revision uint64) uint64 { return revision + 1 }

// streamFrom is where a read of versions >= from starts.
func streamFrom(from uint64) esdb.StreamPosition {
	if from <= 1 {
		return esdb.Start{}
	}
	return esdb.Revision(from - 1)
}

// allFrom is where a read of $all after from starts. ESDB starts at the
// event at from itself, so readers skip it with after.
func allFrom(from eventstore.Position) esdb.AllPosition {
	if from.IsZero() {
		return esdb.Start{}
	}
	return esdb.Position{Commit: from.Commit, Prepare: from.Prepare}
}

// positionOf keeps both parts of an ESDB position: the commit position
// alone does not order events written in one transaction.
func positionOf(p esdb.Position) eventstore.Position {
	return eventstore.Position{Commit: p.Commit, Prepare: p.Prepare}
}

// after reports whether an event of $all at p comes strictly after from.
// The zero Position is the start of the log, before every event.
func after(p, from eventstore.Position) bool {
	return from.IsZero() || p.Compare(from) > 0
}

// System events. EventStoreDB writes its own events into $all: stream
// metadata ($$stream), statistics ($stats-...), users, scavenges,
// projections, link events ($>), tombstones ($streamDeleted). Their
// streams or their types start with "$".

func isSystemName(s string) bool { return strings.HasPrefix(s, "$") }

// visible reports whether an event of $all belongs to the store's view:
// not a system event, and in a stream under prefix.
func visible(prefix, stream, eventType string) bool {
	return !isSystemName(stream) && !isSystemName(eventType) && strings.HasPrefix(stream, prefix)
}

// Metadata. An event's user metadata holds our schema version and
// eventstore.Metadata as one JSON object:
//
//	{"schema_version":2,"correlation_id":"...","causation_id":"...","actor":"...",
//	 "command":"...","traceparent":"...","tracestate":"..."}
//
// Empty fields are left out. Decoding is tolerant, because other tools
// write to EventStoreDB too: whatever is missing or not understood becomes
// schema version 1 and empty fields. ESDB's own "$correlationId" and
// "$causationId" stand in for ours when those are missing.

type wireMetadata struct {
	SchemaVersion int `json:"schema_version"`
	eventstore.Metadata
}

func encodeMetadata(schemaVersion int, md eventstore.Metadata) ([]byte, error) {
	return json.Marshal(wireMetadata{SchemaVersion: schemaVersion, Metadata: md})
}

func decodeMetadata(b []byte) (schemaVersion int, md eventstore.Metadata) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return 1, eventstore.Metadata{}
	}
	schemaVersion = 1
	if raw, ok := fields["schema_version"]; ok {
		var v int
		if json.Unmarshal(raw, &v) == nil && v >= 1 {
			schemaVersion = v
		}
	}
	text := func(keys ...string) string {
		for _, k := range keys {
			var s string
			if raw, ok := fields[k]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
				return s
			}
		}
		return ""
	}
	return schemaVersion, eventstore.Metadata{
		CorrelationID: text("correlation_id", "$correlationId"),
		CausationID:   text("causation_id", "$causationId"),
		Actor:         text("actor"),
		Command:       text("command"),
		TraceParent:   text("traceparent"),
		TraceState:    text("tracestate"),
	}
}

// proposed turns the events of an append into the client's, checking what
// eventstore.Validate does not: names that EventStoreDB reserves. An event
// in a "$" stream or of a "$" type would be a system event, left out of
// ReadAll, which must return every event.
func proposed(stream string, events []eventstore.EventData) ([]esdb.EventData, error) {
	if isSystemName(stream) {
		return nil, fmt.Errorf("%w: stream name %q: names starting with $ are reserved by EventStoreDB", eventstore.ErrInvalidEvent, stream)
	}
	out := make([]esdb.EventData, len(events))
	for i, e := range events {
		if isSystemName(e.Type) {
			return nil, fmt.Errorf("%w: event %d of %s has type %q: types starting with $ are reserved by EventStoreDB", eventstore.ErrInvalidEvent, i, stream, e.Type)
		}
		md, err := encodeMetadata(e.SchemaVersion, e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("%w: event %d of %s: metadata: %v", eventstore.ErrInvalidEvent, i, stream, err)
		}
		out[i] = esdb.EventData{
			EventID:     e.ID,
			EventType:   e.Type,
			ContentType: esdb.ContentTypeJson,
			Data:        e.Data,
			Metadata:    md,
		}
	}
	return out, nil
}

// recorded turns an event read from the server into ours, taking prefix
// off its stream name. The payload is passed on as stored: events written
// by this package are JSON; those of other tools may not be.
func recorded(prefix string, e *esdb.RecordedEvent) eventstore.RecordedEvent {
	schemaVersion, md := decodeMetadata(e.UserMetadata)
	return eventstore.RecordedEvent{
		ID:            e.EventID,
		StreamID:      strings.TrimPrefix(e.StreamID, prefix),
		Version:       versionOf(e.EventNumber),
		Type:          e.EventType,
		SchemaVersion: schemaVersion,
		Data:          json.RawMessage(e.Data),
		Metadata:      md,
		RecordedAt:    e.CreatedDate,
		Position:      positionOf(e.Position),
	}
}

// Connection strings. KurrentDB documents kurrentdb:// and
// kurrentdb+discover:// (and its newer clients take kurrent:// too); client
// v4.2.0 parses only esdb:// and esdb+discover://, which mean the same.
func normalizeURL(url string) (string, error) {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return "", fmt.Errorf("connection string has no scheme: want kurrentdb://, kurrentdb+discover://, esdb:// or esdb+discover://")
	}
	switch strings.ToLower(scheme) {
	case "esdb", "kurrentdb", "kurrent":
		scheme = "esdb"
	case "esdb+discover", "kurrentdb+discover", "kurrent+discover":
		scheme = "esdb+discover"
	default:
		return "", fmt.Errorf("connection string has scheme %q: want kurrentdb://, kurrentdb+discover://, esdb:// or esdb+discover://", scheme)
	}
	return scheme + "://" + rest, nil
}
