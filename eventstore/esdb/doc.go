// Package esdb is the EventStoreDB (KurrentDB) backend of eventstore.Store,
// on the gRPC client github.com/EventStore/EventStore-Client-Go/v4/esdb.
//
// cmd wires it with Open and a connection string:
//
//	store, err := esdb.Open(ctx, "kurrentdb://admin:changeit@localhost:2113?tls=false")
//	if err != nil { ... }
//	defer store.Close()
//
// # How the contract maps onto EventStoreDB
//
//   - Streams are ESDB streams of the same name. Versions are revisions
//     plus one: ESDB counts from 0, we count from 1. Nothing may truncate or
//     delete the streams ($maxCount, $maxAge, $tb, soft delete), or versions
//     would no longer start at 1.
//   - Positions are ESDB's $all positions, commit and prepare. ReadAll reads
//     $all, whose reads start at the given position itself; the store skips
//     that event to read strictly after it.
//   - Events are JSON events; their type is ours, their ID is ours, and
//     their user metadata holds the schema version and eventstore.Metadata
//     as JSON. Events written by other tools read back with schema version 1
//     and whatever metadata can be understood.
//   - ESDB's own events ("$" streams and types) are not part of the log:
//     ReadAll and Head skip them, and Append refuses such names.
//   - Retries are idempotent by ESDB's rules (see Store.Append). ESDB keeps
//     no index of event IDs, so this backend never reports
//     eventstore.ErrDuplicateEventID: IDs reused elsewhere are written again.
//   - Failures to reach the server are eventstore.ErrUnavailable; the table
//     in errors.go lists how every error code of the client maps.
//
// ReadAll and Head need read access to $all (an admin or ops user when the
// server checks access). With WithStreamPrefix, several stores share one
// server without seeing each other's events; tests use that, production
// does not.
package esdb
