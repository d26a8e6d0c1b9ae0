// Package postgres is the PostgreSQL backend of the event store, on pgx/v5.
// Its schema is the event-store migration set in package migrations.
//
// # A global log that never skips an event
//
// Every event is one row of one table, and the table is both the streams
// and the global log. The hard part is the log: an identity column alone is
// not a safe position, because sequence values are taken when a transaction
// inserts and become visible when it commits, in another order. A reader at
// position 41 that sees 42 and 44 and moves on loses 43 when its writer
// commits a moment later. Marten, Eventuous, watermill and SQLStreamStore
// all shipped that bug.
//
// This backend records the writing transaction's ID with each event
// (pg_current_xact_id, a 64-bit ID that never wraps) and orders the log by
// (transaction ID, sequence). Readers only read events of transactions
// below the xmin of their snapshot: every transaction older than that has
// committed or rolled back, so nothing can appear behind a reader later. A
// position is the pair, written "tx:seq".
//
// The alternatives lost for these reasons:
//   - One writer at a time (an advisory lock or a counter row taken by every
//     append, as message-db and Emmett do) makes commit order equal sequence
//     order, but serializes every append in the database behind one lock:
//     throughput stops at what a single session commits.
//   - Readers that wait out gaps with a timeout (Marten's high-water mark)
//     trade lost events for latency and still lose events when a
//     transaction outlives the timeout.
//
// The design has two known weak points, both handled:
//   - A long or idle-in-transaction session anywhere in the cluster holds the
//     snapshot xmin back and so stalls every reader (writers go on). Appends
//     are single statements and never hold a transaction open; the view
//     eventstore_log_blockers (and Store.LogBlockers) shows which sessions
//     hold the log back, with pid, transaction ID and age. Setting
//     idle_in_transaction_session_timeout bounds the damage.
//   - Transaction IDs belong to a cluster: a dump restored into a new
//     cluster starts again from low IDs, and new events would sort before
//     old ones. Open detects recorded IDs at or above the current one and
//     raises eventstore_settings.xid_offset, which is added to every ID
//     written and compared, so positions keep increasing across a restore.
package postgres
