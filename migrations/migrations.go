package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// files holds every set's SQL. The pattern is one level of folders deep rather than naming each set's
// folder, because go:embed refuses a pattern that matches nothing and a set may not have files yet.
//
//go:embed */*.sql
var files embed.FS

// A Set is one independently applied group of migrations. Get one from [EventStore] or [ReadModel].
type Set struct {
	name  string
	fsys  fs.FS
	table string // goose's version table for this set
	// lockID keys the PostgreSQL advisory lock held while the set is applied. It is durable: an old and
	// a new binary starting together must agree on it, or both would migrate at once.
	lockID int64
}

// EventStore returns the event-store schema (migrations/eventstore), needed only where events are kept
// in PostgreSQL.
func EventStore() Set {
	return newSet("eventstore", "goose_eventstore_version", 2574799367) // crc32 of the table name
}

// ReadModel returns the read-model schema (migrations/readmodel): projection checkpoints and views.
func ReadModel() Set {
	return newSet("readmodel", "goose_readmodel_version", 2829189833) // crc32 of the table name
}

func newSet(dir, table string, lockID int64) Set {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(fmt.Sprintf("migrations: %s: %v", dir, err)) // only for an invalid constant path
	}
	return Set{name: dir, fsys: sub, table: table, lockID: lockID}
}

// Name returns the set's name ("eventstore", "readmodel"), for logs.
func (s Set) Name() string { return s.name }

// Up applies the set's pending migrations, in version order, to the database at connString (a pgx
// connection string). Each migration runs in its own transaction unless the file says otherwise.
//
// Several processes may call Up on the same database at once: a session-level advisory lock, one per
// set, lets one of them migrate while the others wait (up to 5 minutes, or until ctx ends) and then find
// nothing left to do. Up returns an error wrapping [goose.ErrNoMigrations] if the set has no files, and
// one from goose if the database holds versions the set does not know in between known ones.
func Up(ctx context.Context, connString string, set Set) (err error) {
	if set.fsys == nil {
		return errors.New("migrations: zero Set: use EventStore() or ReadModel()")
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", set.name, err)
	}
	db := stdlib.OpenDB(*cfg)
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("migrate %s: close: %w", set.name, cerr)
		}
	}()

	// goose's default wait is 5 s between attempts; waiters poll every second instead, so that services
	// starting together are not held back by seconds when the migrations themselves take milliseconds.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(set.lockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migrate %s: %w", set.name, err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, set.fsys,
		goose.WithTableName(set.table),
		goose.WithSessionLocker(locker),
		// Go migrations registered globally by any imported package must not leak into this set.
		goose.WithDisableGlobalRegistry(true),
		// goose would log each applied file to stderr; what matters reaches the caller as an error.
		goose.WithSlog(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", set.name, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", set.name, err)
	}
	return nil
}
