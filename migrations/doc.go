// Package migrations holds the PostgreSQL schema as versioned SQL files and applies them with goose.
//
// The schema comes in two sets, each with its own goose version table and advisory lock, so that each
// can be applied on its own:
//
//   - [EventStore]: the event log (migrations/eventstore). Only deployments that keep their events in
//     PostgreSQL apply it; one that uses EventStoreDB never creates event tables.
//   - [ReadModel]: projection checkpoints and read models (migrations/readmodel).
//
// A service applies what it needs at start-up:
//
//	if err := migrations.Up(ctx, dbURL, migrations.ReadModel()); err != nil {
//		return fmt.Errorf("migrate: %w", err)
//	}
//
// Up is safe to call from several processes at once. Files are numbered 00001_name.sql within their set;
// a file that has been applied anywhere is never edited, a change is a new file.
package migrations
