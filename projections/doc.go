// Package projections builds the read models of the order platform in PostgreSQL from the global event
// log: the projections ([Orders], [CustomerSummary], [DailySales], [AuditLog]) and the [Runner] that
// feeds them. The tables are in the read-model migration set (migrations/readmodel), which documents
// every column; the query API reads them.
//
//	runner, err := projections.NewRunner(projections.Config{
//		Store: store, DB: pool, Projections: projections.All(), Owner: "host-1:4711",
//		Waker: projections.WakeChan(wakeups), Metrics: metrics, Logger: log,
//	})
//	...
//	err = runner.Run(ctx) // until ctx ends
//
// # Exactly once, by transaction
//
// Each projection has a checkpoint: the position of the last event it applied. The runner reads the
// events after it (ReadAll), hands them to the projection as one batch, and moves the checkpoint in
// the same transaction, so a crash at any instant leaves the tables and the checkpoint in agreement:
// nothing is lost and nothing is applied twice. Projections still skip events whose stream version
// they have already applied (each keeps the last version per order), which makes a checkpoint that
// is behind its data harmless; a version gap fails the batch instead of being papered over.
//
// A live batch's transaction commits with synchronous_commit off: its commit does not wait for the
// disk, nor for a synchronous standby. A crash of the server, or a failover, can then lose the last
// batches committed, each whole, with its checkpoint, and the projector applies them again from the
// log, whose appends commit synchronously. Readers may see a read model step back to an older
// position after such a crash, even one already notified, until it catches up again.
//
// Projections fold a batch in memory and write each row once per batch, counters as increments, with
// one statement per table (the rows as one JSON array, see queueRows), so a batch of 500 events, or
// of 10,000 in a rebuild, costs a handful of statements. A projection reads what it needs before the
// batch's transaction, and hands its writes back (Writes): a live batch's transaction, from BEGIN to
// COMMIT with the checkpoint's move, goes to the server in one pipeline, one round trip.
//
// # Waking up
//
// An idle projection waits for a [Waker] (for the PostgreSQL store, postgres.Listen on
// postgres.AppendedChannel, which a NotifyingStore on the command side feeds) or for the poll
// interval, whichever comes first. A wake-up may come before the new events are visible (the log only
// shows a transaction's events once every older transaction has ended), so after one the runner reads
// again, VisibilityRetry (5 ms), 10 ms, 20 ms... apart, five times and then until the next wait would
// be as long as the poll interval, and at once whenever another wake-up comes or another projection's
// batch (one such older transaction) ends; the poll catches whatever else is missed: events of
// writers that do not notify, notifications lost to a broken connection.
//
// The projections of a runner share their reads of the log: a wake-up wakes all of them, and those
// that keep up stand at the same positions. The runner keeps the last few batches' events in memory
// and reads the end of the log once for every projection that asks while the read before runs (see
// logWindow); projections behind that window, catching up, read for themselves.
// projector_log_requests_total and projector_log_reads_total show how much is shared.
//
// # Failures
//
// When a batch fails in a projection, the runner rolls it back and applies its events one at a time:
// those before the failing event commit, and the failing one (a poison event) is recorded in
// projection_status with its position and the error, state "failing". The projection retries with
// exponential backoff and jitter (up to MaxBackoff) and recovers by itself once the cause is gone; the
// other projections run on, each in its own goroutine. Errors that mean the database could not be
// reached are retried the same way, without the search.
//
// # Several processes
//
// Any number of projector processes may run; each projection is run by one of them at a time, the
// holder of a PostgreSQL advisory lock (see lock.go), and another takes over within about LockRetry
// when the owner dies. Every batch also moves its checkpoint only from where it read the batch
// (projection_advance, which fails the transaction otherwise), so two processes can never both
// apply an event, even in the moment of a take-over.
//
// # Progress
//
// The owner writes each projection's state, the head of the log and the lag into projection_status
// with every batch, and every StatusInterval while idle; after every batch it sends, in the batch's
// transaction, NOTIFY projection_progress '<name>:<position>' ([ProgressChannel]), so that readers can
// wait for a position without polling. Lag in events is counted exactly, capped at 100000, when the
// store can count (the PostgreSQL store walks its primary key from the checkpoint to the head, which
// is cheap while the lag is modest and bounded by the cap when it is not); it is unknown (-1, NULL)
// for EventStoreDB. The head is what a reader of the log can see: with PostgreSQL, events committed
// while an older transaction is still running stay out of it, and out of the lag, until that
// transaction ends (eventstore_log_blockers shows which one). Lag in seconds is the age of the oldest event not applied yet, which the runner
// gets for free by reading one event more than a batch. [Metrics] exports the same per projection.
//
// # Rebuilds
//
// A projection is rebuilt blue-green (rebuild.go): a new copy is built from the start of the log in a
// schema of its own, with its own checkpoint, while the live copy keeps serving and following the
// log; its owner then switches to it in one transaction at the live copy's position. [RequestRebuild]
// asks for one, [RunRebuild] carries it out when no process owns the projection, [AbortRebuild]
// discards it, and [Reports] tells how each projection and its rebuild stand. Rebuilds read the log in
// batches of RebuildBatchSize events and hold about one batch in memory, whatever the log's length.
//
// Projection names and schema versions are durable: a projection whose recorded schema version is
// older than its code's is rebuilt blue-green at start-up (Config.RebuildOnStart), its old copy
// serving, frozen at its checkpoint, until the switch; one whose recorded version is newer refuses to
// run.
package projections
