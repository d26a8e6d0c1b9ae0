package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/eventstore"
)

// Blue-green rebuilds.
//
// A rebuild builds a new copy of a projection from the start of the log while the live copy keeps
// serving queries, then replaces the live copy in one transaction.
//
// Where the copies live. The live tables are in the schema the read-model database's search path
// puts first (normally public), under the names the query API reads. A rebuild creates the same
// tables in a schema of its own, "rebuild_<projection>", and applies the log to them through a
// dedicated connection whose search_path is that schema alone, so the projection's unqualified
// statements write the copy and can never touch the live tables. The copy's checkpoint is its row of
// projection_rebuilds, committed with each batch as the live checkpoint is: a rebuild interrupted by
// a crash resumes from there, and aborting it drops the schema and the row, the live copy untouched.
//
// The switch. One transaction locks the projection's checkpoint row, then the live and the new
// tables, moves the live tables out (ALTER TABLE ... SET SCHEMA "retired_<projection>_<generation>",
// dropped at once unless the old copy is kept), moves the new ones in, records the new schema version
// and generation, and deletes the rebuild's row. Readers resolve table names again after every such
// change, including those queued behind the switch's lock, so a query sees either the old tables or
// the new ones, never neither. pgx's cached prepared statements are re-planned by the server against
// the new tables; their result shape only changes if the new schema version changes a column's type,
// which the query API of that release must expect anyway ("cached plan must not change result
// type"). Renaming tables in place, or repointing views, were the alternatives: both need the same
// ACCESS EXCLUSIVE locks, and schemas keep a copy's tables, indexes and constraints together under
// their own names. The switch waits for its locks for at most switchLockTimeout and then retries, so
// readers queued behind it stall for no longer than that, and never fail.
//
// No event lost or applied twice. The projection's owner carries out the rebuild (the runner that
// holds its advisory lock, or `projector rebuild` itself when no projector runs it), and the builder
// never reads past the live copy's checkpoint. When it has caught up, the owner's tail loop does the
// last step between two of its own batches: it brings the copy to exactly the live position, waits
// until every transaction older than the copy's last batch has ended, and switches. The checkpoint
// therefore does not move at the switch, and the waiting closes the last gap: a reader in REPEATABLE
// READ reads the checkpoint and then the tables, and the tables' names are resolved when they are
// first used, so a reader whose snapshot predates the copy's last batch could otherwise read the
// live checkpoint together with an older state of the new tables.
//
// Speed and memory. The builder reads the log in batches of RebuildBatchSize events, the next batch
// while the current one is written, and holds at most those two in memory, however long the log. The
// projections write each batch's rows with one statement per table. The copy's indexes that are not
// unique are left out while it is filled and built at the end, under the live indexes' names.
//
// When the projection's code has a newer schema version than its live copy (a deploy), the live
// copy cannot be followed by code written for another shape: the owner leaves it frozen and serving
// at its checkpoint, builds the new copy up to the head of the log, and switches (RebuildOnStart).

// RebuildMode is what the runner does when a projection's recorded schema version is older than its
// code's.
type RebuildMode string

const (
	// RebuildBlueGreen builds the new version beside the live copy, which keeps serving queries (at
	// its checkpoint) until the switch. The default.
	RebuildBlueGreen RebuildMode = "blue-green"
	// RebuildOff leaves the projection stopped at its old version until someone runs
	// `projector rebuild`, which then builds it blue-green.
	RebuildOff RebuildMode = "off"
)

// ParseRebuildMode parses "blue-green" or "off".
func ParseRebuildMode(s string) (RebuildMode, error) {
	switch m := RebuildMode(s); m {
	case RebuildBlueGreen, RebuildOff:
		return m, nil
	}
	return "", fmt.Errorf("rebuild mode %q: want %q or %q", s, RebuildBlueGreen, RebuildOff)
}

const (
	defaultRebuildBatchSize = 10_000
	defaultRebuildPoll      = time.Second
	// switchLockTimeout bounds how long the switch waits for a table lock, and so how long readers
	// queue behind it, before it backs off and tries again.
	switchLockTimeout = 100 * time.Millisecond
	// switchAttempts is how often the switch tries before the rebuild reports a failure (and tries
	// again later).
	switchAttempts = 50
	// readerWait bounds the wait for older transactions before a switch (longer than the query API's
	// read timeout; a session idle in a transaction for longer is not waited for).
	readerWait = 5 * time.Second
	// progressEvery paces the rebuild's log lines.
	progressEvery = 5 * time.Second
)

var (
	// ErrNoRebuild: the projection has no rebuild in progress.
	ErrNoRebuild = errors.New("no rebuild in progress")
	// errRebuildGone: the rebuild's row went away or moved under the builder (aborted, or carried out
	// by another process).
	errRebuildGone = errors.New("rebuild aborted or taken over")
)

// BuildSchema is the schema in which the rebuild of the projection called name builds its copy.
func BuildSchema(name string) string { return "rebuild_" + name }

// retiredSchema is where the switch moves the live copy of generation gen.
func retiredSchema(name string, gen int) string { return "retired_" + name + "_" + strconv.Itoa(gen) }

func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// RequestRebuild records a request to rebuild p from the start of the log, unless one is in
// progress already, and returns the generation the new copy will have. The projection's owner picks
// it up within about a second (Config.RebuildPoll); RunRebuild carries it out when no projector runs.
func RequestRebuild(ctx context.Context, db DB, p Projection, requestedBy string, keepOld bool) (int, error) {
	var gen int
	err := db.QueryRow(ctx, `WITH cp AS (
    INSERT INTO projection_checkpoints (name, schema_version) VALUES ($1, $2)
    ON CONFLICT (name) DO UPDATE SET name = excluded.name
    RETURNING generation)
INSERT INTO projection_rebuilds AS r (name, schema_version, generation, keep_old, requested_by)
SELECT $1, $2, cp.generation + 1, $3, $4 FROM cp
ON CONFLICT (name) DO UPDATE SET keep_old = r.keep_old OR excluded.keep_old
RETURNING r.generation`, p.Name(), p.SchemaVersion(), keepOld, requestedBy).Scan(&gen)
	if err != nil {
		return 0, fmt.Errorf("request rebuild of %s: %w", p.Name(), err)
	}
	return gen, nil
}

// AbortRebuild discards the rebuild of the projection called name: its row and its copy. It returns
// ErrNoRebuild when there is none. A builder at work notices at its next batch and stops; the live
// copy is not touched.
func AbortRebuild(ctx context.Context, db DB, name string) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// The row first, as the builder's batches lock it first: this waits for a batch in flight.
		tag, err := tx.Exec(ctx, `DELETE FROM projection_rebuilds WHERE name = $1`, name)
		if err != nil {
			return fmt.Errorf("abort rebuild of %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+ident(BuildSchema(name))+` CASCADE`); err != nil {
			return fmt.Errorf("abort rebuild of %s: drop its copy: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%s: %w", name, ErrNoRebuild)
		}
		return nil
	})
}

// DB is what the rebuild functions need of the read-model database: *pgxpool.Pool.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// build is a rebuild in progress in this process: the copy's connection and checkpoint.
type build struct {
	w    *worker
	conn *pgx.Conn // search_path: the build schema only
	live string    // the live schema
	// connConfig is conn's configuration, for the connections that build indexes beside it.
	connConfig *pgx.ConnConfig
	schema     string // the build schema
	gen        int
	keepOld    bool
	pos        eventstore.Position
	events     int64
	total      int64
	totalAt    eventstore.Position // the head total was counted up to by this process; zero if another did
	started    time.Time
	done0      int64 // events already done when this process took the rebuild over
	lastLog    time.Time
	lastHead   eventstore.Position
	lastAt     *time.Time // recorded_at of the last event this process applied to the copy
	ahead      *readAhead // the next batch, being read
	// completed: the deferred indexes exist and the statistics are fresh.
	completed bool
	// switchedTo is the checkpoint's generation after this copy's switch, once done.
	switchedTo int
	measured   time.Time // when head and lag were last measured
}

// claim takes the projection's rebuild request over, creating its copy if it has none yet or one of
// another schema version, and opens the copy's connection. It returns nil, nil when there is no
// request.
func (w *worker) claim(ctx context.Context) (*build, error) {
	callCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	b := &build{w: w, schema: BuildSchema(w.name), started: time.Now()}
	if err := w.cfg.DB.QueryRow(callCtx, `SELECT current_schema()`).Scan(&b.live); err != nil {
		return nil, fmt.Errorf("live schema: %w", err)
	}
	var (
		version int
		token   string
		total   *int64
	)
	err := pgx.BeginFunc(callCtx, w.cfg.DB, func(tx pgx.Tx) error {
		err := tx.QueryRow(callCtx, `SELECT schema_version, generation, keep_old, position, events, events_total
FROM projection_rebuilds WHERE name = $1 FOR UPDATE`, w.name).Scan(&version, &b.gen, &b.keepOld, &token, &b.events, &total)
		if err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(callCtx, `SELECT to_regnamespace($1) IS NOT NULL`, b.schema).Scan(&exists); err != nil {
			return err
		}
		if exists && version == w.proj.SchemaVersion() {
			_, err := tx.Exec(callCtx, `UPDATE projection_rebuilds SET builder = $2, last_error = NULL, updated_at = now()
WHERE name = $1`, w.name, w.cfg.Owner)
			return err
		}
		// A new request, or one of another schema version (the code changed since it started): a
		// fresh copy from the start of the log.
		if err := w.createCopy(callCtx, tx, b); err != nil {
			return err
		}
		token, b.events, total = eventstore.Position{}.String(), 0, nil
		_, err = tx.Exec(callCtx, `UPDATE projection_rebuilds SET schema_version = $2, builder = $3, position = '0:0',
    events = 0, events_total = NULL, head_position = NULL, lag_events = NULL, last_error = NULL,
    started_at = now(), updated_at = now()
WHERE name = $1`, w.name, w.proj.SchemaVersion(), w.cfg.Owner)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim rebuild: %w", err)
	}
	if b.pos, err = eventstore.ParsePosition(token); err != nil {
		return nil, fmt.Errorf("rebuild checkpoint: %w", err)
	}
	b.done0 = b.events
	if total != nil {
		b.total = *total
	} else if err := b.countTotal(callCtx); err != nil {
		return nil, err
	}
	cfg := w.cfg.DB.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "projector rebuild " + w.name
	cfg.RuntimeParams["search_path"] = ident(b.schema)
	b.connConfig = cfg
	if b.conn, err = pgx.ConnectConfig(callCtx, cfg); err != nil {
		return nil, fmt.Errorf("connect for the rebuild: %w", err)
	}
	w.log.Info("rebuilding projection", "generation", b.gen, "schema_version", w.proj.SchemaVersion(),
		"from", b.pos.String(), "events_done", b.events, "events_total", b.total)
	return b, nil
}

// createCopy (re)creates the build schema with empty tables: the projection's own definitions when it
// has them, the live tables' otherwise. It leaves out their indexes that are not unique and records
// them in the rebuild's row, to be created once the copy is built (deferIndexes).
func (w *worker) createCopy(ctx context.Context, tx pgx.Tx, b *build) error {
	if err := w.createTables(ctx, tx, b); err != nil {
		return err
	}
	return w.deferIndexes(ctx, tx, b)
}

func (w *worker) createTables(ctx context.Context, tx pgx.Tx, b *build) error {
	if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+ident(b.schema)+` CASCADE`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+ident(b.schema)); err != nil {
		return err
	}
	if c, ok := w.proj.(TableCreator); ok {
		if _, err := tx.Exec(ctx, `SET LOCAL search_path = `+ident(b.schema)); err != nil {
			return err
		}
		if err := c.CreateTables(ctx, tx); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
		_, err := tx.Exec(ctx, `SET LOCAL search_path = `+ident(b.live))
		return err
	}
	for _, t := range w.proj.Tables() {
		if _, err := tx.Exec(ctx, `CREATE TABLE `+ident(b.schema, t)+` (LIKE `+ident(b.live, t)+` INCLUDING ALL)`); err != nil {
			return fmt.Errorf("create %s: %w", t, err)
		}
		if err := copyStorageParams(ctx, tx, ident(b.live, t), ident(b.schema, t)); err != nil {
			return fmt.Errorf("create %s: %w", t, err)
		}
	}
	return nil
}

// copyStorageParams gives table the storage parameters of from (a fillfactor, say), which LIKE
// ... INCLUDING ALL leaves behind: the copy becomes the live table. The parameters come from the
// catalog as name=value, the form ALTER TABLE ... SET takes; they cannot be bound as parameters.
func copyStorageParams(ctx context.Context, tx pgx.Tx, from, table string) error {
	var params string
	err := tx.QueryRow(ctx, `SELECT coalesce(array_to_string(reloptions, ', '), '') FROM pg_class WHERE oid = $1::regclass`,
		from).Scan(&params)
	if err != nil || params == "" {
		return err
	}
	_, err = tx.Exec(ctx, `ALTER TABLE `+table+` SET (`+params+`)`)
	return err
}

// deferIndexes drops the copy's indexes that are not unique and records statements that create them
// again, under the names of the model's indexes (the live ones', or the projection's own), in the
// rebuild's row. Building an index over a full table sorts once; maintaining it row by row costs a
// random write per row, which would dominate a rebuild of the orders or the audit log. Unique
// indexes stay, since ON CONFLICT needs them, except the keys of a KeyDeferrer's copied tables.
func (w *worker) deferIndexes(ctx context.Context, tx pgx.Tx, b *build) error {
	_, ownTables := w.proj.(TableCreator)
	deferred := []string{} // not nil: the column is NOT NULL
	for _, t := range w.proj.Tables() {
		model := b.live
		if ownTables {
			model = b.schema
		}
		stmts, err := indexStatements(ctx, tx, model, b.schema, t)
		if err != nil {
			return err
		}
		deferred = append(deferred, stmts...)
		var drop []string
		rows, err := tx.Query(ctx, nonUniqueIndexes, ident(b.schema, t))
		if err != nil {
			return fmt.Errorf("indexes of %s: %w", t, err)
		}
		var name, def string
		if _, err := pgx.ForEachRow(rows, []any{&name, &def}, func() error {
			drop = append(drop, ident(b.schema, name))
			return nil
		}); err != nil {
			return err
		}
		if len(drop) > 0 {
			if _, err := tx.Exec(ctx, `DROP INDEX `+strings.Join(drop, ", ")); err != nil {
				return err
			}
		}
		if d, ok := w.proj.(KeyDeferrer); ok && d.DefersKeys() && !ownTables {
			// createIndexes adds the live table's keys back (keyChanges).
			keys, err := tableKeys(ctx, tx, ident(b.schema, t))
			if err != nil {
				return err
			}
			for _, k := range keys {
				if _, err := tx.Exec(ctx, `ALTER TABLE `+ident(b.schema, t)+` DROP CONSTRAINT `+ident(k.name)); err != nil {
					return fmt.Errorf("defer key %s of %s: %w", k.name, t, err)
				}
			}
		}
	}
	_, err := tx.Exec(ctx, `UPDATE projection_rebuilds SET deferred_indexes = $2 WHERE name = $1`, w.name, deferred)
	return err
}

// querier runs a query: a pool, a connection or a transaction.
type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

// tableKey is a primary key or unique constraint, or an index: its name and definition.
type tableKey struct{ name, def string }

// tableKeys lists the primary key and unique constraints of table (qualified).
func tableKeys(ctx context.Context, q querier, table string) ([]tableKey, error) {
	return named(ctx, q, "keys", `SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = $1::regclass AND contype IN ('p', 'u') ORDER BY contype, conname`, table)
}

// named runs query, which selects the name and definition of what (keys, indexes) of table.
func named(ctx context.Context, q querier, what, query, table string) ([]tableKey, error) {
	rows, err := q.Query(ctx, query, table)
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", what, table, err)
	}
	var (
		out []tableKey
		k   tableKey
	)
	if _, err := pgx.ForEachRow(rows, []any{&k.name, &k.def}, func() error {
		out = append(out, k)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("%s of %s: %w", what, table, err)
	}
	return out, nil
}

// keyChanges returns what makes the keys of table in schema target those of the same table in
// schema model: it drops the target's keys the model does not have, adds the model's keys the
// target lacks, under the model's names, and renames the others to them. Keys are matched by
// definition, not name: CREATE TABLE ... (LIKE ... INCLUDING ALL) names a copy's unique keys after
// its own rule, and a later migration may name the live one. A key deferred by a rebuild
// (KeyDeferrer), or added to the live table while the copy was built, is added; one dropped from
// the live table meanwhile, or changed, is dropped (and added as it is now).
func keyChanges(ctx context.Context, q querier, model, target, table string) (ddl, error) {
	want, err := tableKeys(ctx, q, ident(model, table))
	if err != nil {
		return ddl{}, err
	}
	have, err := tableKeys(ctx, q, ident(target, table))
	if err != nil {
		return ddl{}, err
	}
	t := ident(target, table)
	return changes(want, have,
		func(k tableKey) string { return `ALTER TABLE ` + t + ` DROP CONSTRAINT ` + ident(k.name) },
		func(k tableKey) string { return `ALTER TABLE ` + t + ` ADD CONSTRAINT ` + ident(k.name) + ` ` + k.def },
		func(from, to string) rename { return rename{schema: target, table: table, from: from, to: to} }), nil
}

// changes returns what makes have want: each of want is paired with one of have of the same
// definition, not paired yet; a pair under two names is renamed, one of have with no pair dropped, one
// of want with no pair added.
func changes(want, have []tableKey, drop, add func(tableKey) string, renamed func(from, to string) rename) ddl {
	var d ddl
	paired := make([]bool, len(have))
	for _, w := range want {
		h := -1
		for i, o := range have {
			if !paired[i] && o.def == w.def {
				h = i
				break
			}
		}
		switch {
		case h < 0:
			d.adds = append(d.adds, add(w))
		case have[h].name != w.name:
			d.renames = append(d.renames, renamed(have[h].name, w.name))
		}
		if h >= 0 {
			paired[h] = true
		}
	}
	for i, k := range have {
		if !paired[i] {
			d.drops = append(d.drops, drop(k))
		}
	}
	return d
}

// ddl makes a copy's keys or unique indexes those of the live table. Its statements run every drop
// first, then the renames, then the adds, since a name a drop or a rename frees may be the one an add
// or a rename takes (a live unique index turned into a key of the same name, say). The renames go
// through temporary names, so that two may swap.
type ddl struct {
	drops, adds []string
	renames     []rename
}

// rename renames a key of schema.table, or an index of schema when table is empty.
type rename struct{ schema, table, from, to string }

func (r rename) statement(from, to string) string {
	if r.table != "" {
		return `ALTER TABLE ` + ident(r.schema, r.table) + ` RENAME CONSTRAINT ` + ident(from) + ` TO ` + ident(to)
	}
	return `ALTER INDEX ` + ident(r.schema, from) + ` RENAME TO ` + ident(to)
}

func (d *ddl) merge(o ddl) {
	d.drops, d.renames, d.adds = append(d.drops, o.drops...), append(d.renames, o.renames...), append(d.adds, o.adds...)
}

// statements returns d's statements in the order they must run.
func (d ddl) statements() []string {
	stmts := slices.Clone(d.drops)
	temp := func(i int) string { return "orderflow_rename_" + strconv.Itoa(i) }
	for i, r := range d.renames {
		stmts = append(stmts, r.statement(r.from, temp(i)))
	}
	for i, r := range d.renames {
		stmts = append(stmts, r.statement(temp(i), r.to))
	}
	return append(stmts, d.adds...)
}

// plainUniqueIndexes lists a table's unique indexes that back none of its constraints (CREATE UNIQUE
// INDEX rather than a key): name and definition.
const plainUniqueIndexes = `SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = $1::regclass AND i.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = i.indrelid AND k.conindid = i.indexrelid)
ORDER BY 1`

// uniqueIndexChanges is keyChanges for plain unique indexes (plainUniqueIndexes): a copy keeps those
// it was created with, and gets the live table's as they are at the switch, under their names. Indexes
// are matched by what follows USING in their definition (the table's name differs between the two).
func uniqueIndexChanges(ctx context.Context, q querier, model, target, table string) (ddl, error) {
	want, err := indexesOf(ctx, q, plainUniqueIndexes, ident(model, table))
	if err != nil {
		return ddl{}, err
	}
	have, err := indexesOf(ctx, q, plainUniqueIndexes, ident(target, table))
	if err != nil {
		return ddl{}, err
	}
	return changes(want, have,
		func(k tableKey) string { return `DROP INDEX ` + ident(target, k.name) },
		func(k tableKey) string {
			return `CREATE UNIQUE INDEX ` + ident(k.name) + ` ON ` + ident(target, table) + ` USING ` + k.def
		},
		func(from, to string) rename { return rename{schema: target, from: from, to: to} }), nil
}

// nonUniqueIndexes lists a table's indexes that are not unique: name and definition.
const nonUniqueIndexes = `SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = $1::regclass AND NOT i.indisunique ORDER BY 1`

// indexStatements returns statements that create the indexes of table in schema model that are not
// unique on the same table in schema target, under the same names.
func indexStatements(ctx context.Context, q querier, model, target, table string) ([]string, error) {
	indexes, err := indexesOf(ctx, q, nonUniqueIndexes, ident(model, table))
	if err != nil {
		return nil, err
	}
	stmts := make([]string, 0, len(indexes))
	for _, ix := range indexes {
		stmts = append(stmts, `CREATE INDEX IF NOT EXISTS `+ident(ix.name)+` ON `+ident(target, table)+` USING `+ix.def)
	}
	return stmts, nil
}

// indexesOf lists the indexes of table (qualified) that query (nonUniqueIndexes or
// plainUniqueIndexes) selects, each with what follows USING in its definition as def: the rest names
// the table, which differs between a copy and the live one.
func indexesOf(ctx context.Context, q querier, query, table string) ([]tableKey, error) {
	indexes, err := named(ctx, q, "indexes", query, table)
	if err != nil {
		return nil, err
	}
	for i, ix := range indexes {
		_, method, ok := strings.Cut(ix.def, " USING ")
		if !ok {
			return nil, fmt.Errorf("index %s of %s: unexpected definition %q", ix.name, table, ix.def)
		}
		indexes[i].def = method
	}
	return indexes, nil
}

// complete creates the indexes deferIndexes left out and gathers the tables' statistics, so that the
// first queries after the switch get good plans. It runs once, before the copy's last few batches:
// while the live copy is being followed, before the tail is asked to pause.
func (b *build) complete(ctx context.Context) error {
	if b.completed {
		return nil
	}
	if err := b.createIndexes(ctx); err != nil {
		return err
	}
	for _, t := range b.w.proj.Tables() {
		callCtx, cancel := context.WithTimeout(ctx, b.w.cfg.Timeout)
		_, err := b.conn.Exec(callCtx, `ANALYZE `+ident(b.schema, t))
		cancel()
		if err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	b.completed = true
	return nil
}

// indexBuildTimeout bounds each statement that builds a deferred index or key over a whole copy:
// its time grows with the table (about a second per million audit rows here), and one cut short
// rolls back entirely, so it gets far longer than a batch's Timeout.
const indexBuildTimeout = time.Hour

// createIndexes creates the keys and indexes deferIndexes left out. A copy of live tables gets their
// keys and indexes, unique ones included, as they are now, not as they were when the rebuild began: a
// migration run meanwhile may have dropped or added some, and the copy is to replace the live tables
// as they are.
// A projection that creates its own tables gets the statements recorded from them.
//
// Keys and unique indexes come first, in order: the statements drop, rename and add them, and adding
// a key locks its table. The plain indexes that follow are built indexBuilders at a time.
func (b *build) createIndexes(ctx context.Context) error {
	stmts, err := b.deferredStatements(ctx)
	if err != nil {
		return err
	}
	var plain []string
	for _, s := range stmts {
		if strings.HasPrefix(s, "CREATE INDEX ") {
			plain = append(plain, s)
			continue
		}
		if err := buildIndex(ctx, b.conn, s); err != nil {
			return err
		}
	}
	return b.buildIndexes(ctx, plain)
}

// indexBuilders is how many indexes a rebuild builds at once, each on a connection of its own and
// without parallel workers. Over a million audit rows on this 2-core machine, the key and the four
// indexes took 5.7 s one after another (each with PostgreSQL's two parallel workers, its default),
// 4.0 to 4.2 s two at a time without workers, 5.2 s two at a time with them.
const indexBuilders = 2

// buildIndexes runs stmts, CREATE INDEX statements, indexBuilders at a time.
func (b *build) buildIndexes(ctx context.Context, stmts []string) error {
	if len(stmts) < 2 {
		for _, s := range stmts {
			if err := buildIndex(ctx, b.conn, s); err != nil {
				return err
			}
		}
		return nil
	}
	conns := []*pgx.Conn{b.conn}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
		defer cancel()
		for _, c := range conns[1:] {
			_ = c.Close(closeCtx)
		}
		_, _ = b.conn.Exec(closeCtx, `RESET max_parallel_maintenance_workers`)
	}()
	for range min(indexBuilders, len(stmts)) - 1 {
		connectCtx, cancel := context.WithTimeout(ctx, callTimeout)
		c, err := pgx.ConnectConfig(connectCtx, b.connConfig)
		cancel()
		if err != nil {
			return fmt.Errorf("connect to build indexes: %w", err)
		}
		conns = append(conns, c)
	}
	queue := make(chan string, len(stmts))
	for _, s := range stmts {
		queue <- s
	}
	close(queue)
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range conns {
		g.Go(func() error {
			if _, err := c.Exec(ctx, `SET max_parallel_maintenance_workers = 0`); err != nil {
				return fmt.Errorf("create index: %w", err)
			}
			for s := range queue {
				if err := buildIndex(ctx, c, s); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// buildIndex runs s, which builds an index or a key over a whole copy, on conn.
func buildIndex(ctx context.Context, conn *pgx.Conn, s string) error {
	ctx, cancel := context.WithTimeout(ctx, indexBuildTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, s); err != nil {
		return fmt.Errorf("create index: %w", err)
	}
	return nil
}

// deferredStatements returns the statements createIndexes runs.
func (b *build) deferredStatements(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.w.cfg.Timeout)
	defer cancel()
	var stmts []string
	if _, ownTables := b.w.proj.(TableCreator); ownTables {
		if err := b.w.cfg.DB.QueryRow(ctx, `SELECT deferred_indexes FROM projection_rebuilds WHERE name = $1`,
			b.w.name).Scan(&stmts); err != nil {
			return nil, fmt.Errorf("deferred indexes: %w", err)
		}
	} else {
		var (
			unique ddl
			plain  []string
		)
		for _, t := range b.w.proj.Tables() {
			keys, err := keyChanges(ctx, b.w.cfg.DB, b.live, b.schema, t)
			if err != nil {
				return nil, err
			}
			indexes, err := uniqueIndexChanges(ctx, b.w.cfg.DB, b.live, b.schema, t)
			if err != nil {
				return nil, err
			}
			unique.merge(keys)
			unique.merge(indexes)
			live, err := indexStatements(ctx, b.w.cfg.DB, b.live, b.schema, t)
			if err != nil {
				return nil, err
			}
			plain = append(plain, live...)
		}
		stmts = append(unique.statements(), plain...)
	}
	return stmts, nil
}

// countTotal records the number of events in the log, for progress: exact for a store that can
// count, unknown (0) otherwise.
func (b *build) countTotal(ctx context.Context) error {
	if b.w.counter == nil {
		return nil
	}
	head, err := b.w.cfg.Store.Head(ctx)
	if err != nil {
		return fmt.Errorf("read log head: %w", err)
	}
	if b.total, err = b.w.counter.CountEvents(ctx, eventstore.Position{}, head, 1<<62); err != nil {
		return err
	}
	b.totalAt = head
	_, err = b.w.cfg.DB.Exec(ctx, `UPDATE projection_rebuilds SET events_total = $2 WHERE name = $1`, b.w.name, b.total)
	return err
}

// lag counts the events after last, the end of a batch of n about to be applied, up to head. Up to
// the head the total was counted at, it is the total less the events done: only those after that
// head need a walk of the log's index. Walking from last instead cost a rebuild of 1,000,000 events
// about 15 walks of 100,000 entries (a twentieth of its time).
func (b *build) lag(ctx context.Context, last, head eventstore.Position, n int64) (int64, error) {
	if b.totalAt.IsZero() || last.Compare(b.totalAt) >= 0 {
		return b.w.counter.CountEvents(ctx, last, head, lagCountCap)
	}
	after, err := b.w.counter.CountEvents(ctx, b.totalAt, head, lagCountCap)
	if err != nil {
		return 0, err
	}
	return min(max(b.total-b.events-n, 0)+after, lagCountCap), nil
}

func (b *build) close() {
	if b.ahead != nil {
		<-b.ahead.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_ = b.conn.Close(ctx)
}

// readAhead is a read of the log started before it is needed.
type readAhead struct {
	from   eventstore.Position
	done   chan struct{}
	events []eventstore.RecordedEvent
	err    error
}

// read returns the batch after from. After a full batch it starts reading the next one, so that the
// log is read while the copy writes: a rebuild is then bounded by the slower of the two, not their
// sum. It holds at most two batches.
func (b *build) read(ctx context.Context, from eventstore.Position) ([]eventstore.RecordedEvent, error) {
	size := b.w.cfg.RebuildBatchSize
	var (
		events []eventstore.RecordedEvent
		err    error
	)
	a := b.ahead
	b.ahead = nil
	if a != nil {
		<-a.done
	}
	if a != nil && a.from == from {
		events, err = a.events, a.err
	} else { // none, or read for another position: the caller stopped short of the batch's end
		events, err = b.w.cfg.Store.ReadAll(ctx, from, size)
	}
	if err != nil || len(events) < size {
		return events, err
	}
	a = &readAhead{from: events[len(events)-1].Position, done: make(chan struct{})}
	b.ahead = a
	go func() {
		defer close(a.done)
		// Not bound to ctx, which the caller cancels when its step returns; close waits for it.
		readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.w.cfg.Timeout)
		defer cancel()
		a.events, a.err = b.w.cfg.Store.ReadAll(readCtx, a.from, size)
	}()
	return events, nil
}

// catchUp applies batches to the copy until it reaches upTo, or the head of the log when upTo is
// nil. It never applies an event after upTo.
func (b *build) catchUp(ctx context.Context, upTo *eventstore.Position) error {
	for {
		n, err := b.step(ctx, upTo)
		if err != nil || n == 0 {
			return err
		}
	}
}

// step applies the next batch to the copy, up to upTo when it is not nil, and returns the number of
// events read.
func (b *build) step(ctx context.Context, upTo *eventstore.Position) (int, error) {
	w := b.w
	if upTo != nil && b.pos.Compare(*upTo) >= 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	events, err := b.read(ctx, b.pos)
	if err != nil {
		return 0, fmt.Errorf("read log after %s: %w", b.pos, err)
	}
	if upTo != nil {
		n := len(events)
		for n > 0 && events[n-1].Position.Compare(*upTo) > 0 {
			n--
		}
		events = events[:n]
	}
	if len(events) == 0 {
		return 0, nil
	}
	last := events[len(events)-1].Position
	// The head and the lag are for progress only: counting costs a walk of the log's index, so they
	// are measured every second, not with every batch (a NULL lag keeps the last one).
	head, lag := b.lastHead, int64(-1)
	if time.Since(b.measured) >= time.Second || len(events) < w.cfg.RebuildBatchSize {
		b.measured = time.Now()
		if head, err = w.cfg.Store.Head(ctx); err != nil {
			return 0, fmt.Errorf("read log head: %w", err)
		}
		b.lastHead = head
		if w.counter != nil {
			if lag, err = b.lag(ctx, last, head, int64(len(events))); err != nil {
				return 0, err
			}
		}
	}

	tx, err := b.conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rebuilds := ident(b.live, "projection_rebuilds")
	var at string
	err = tx.QueryRow(ctx, `SELECT position FROM `+rebuilds+` WHERE name = $1 FOR UPDATE`, w.name).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && at != b.pos.String()) {
		return 0, errRebuildGone
	}
	if err != nil {
		return 0, fmt.Errorf("lock rebuild checkpoint: %w", err)
	}
	var writes Writes
	if err := w.proj.Apply(ctx, tx, events, &writes); err != nil {
		return 0, fmt.Errorf("apply batch after %s to the copy: %w", b.pos, err)
	}
	var lagArg *int64
	if lag >= 0 {
		lagArg = &lag
	}
	// The batch's statements and the checkpoint's update go in one round trip.
	err = writes.runIn(ctx, tx, &pgx.QueuedQuery{
		SQL: `UPDATE ` + rebuilds + ` SET position = $2, events = events + $3, head_position = $4,
    lag_events = coalesce($5, lag_events), updated_at = now()
WHERE name = $1`, Arguments: []any{w.name, last.String(), len(events), head.String(), lagArg}})
	if apply, ok := errors.AsType[*applyError](err); ok {
		return 0, fmt.Errorf("apply batch after %s to the copy: %w", b.pos, apply.err)
	}
	if err != nil {
		return 0, fmt.Errorf("write rebuild checkpoint: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	b.pos, b.lastAt = last, &events[len(events)-1].RecordedAt
	b.events += int64(len(events))
	w.m.rebuilt.WithLabelValues(w.name).Add(float64(len(events)))
	if time.Since(b.lastLog) >= progressEvery {
		b.lastLog = time.Now()
		w.log.Info("rebuild progress", "position", last.String(), "events_done", b.events,
			"events_total", b.total, "events_per_second", int64(b.rate()))
	}
	return len(events), nil
}

// rate is the events per second this process has applied to the copy.
func (b *build) rate() float64 {
	s := time.Since(b.started).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(b.events-b.done0) / s
}

// finish brings the copy to the live position live (to the head of the log when frozen: the live
// copy is not being followed) and switches to it. It is called with no live batch in flight and
// none to come until it returns; it returns the projection's position after the switch.
func (b *build) finish(ctx context.Context, live eventstore.Position, frozen bool) (eventstore.Position, error) {
	w := b.w
	upTo := &live
	if frozen {
		upTo = nil
	}
	if err := b.catchUp(ctx, upTo); err != nil {
		return eventstore.Position{}, err
	}
	if !frozen && b.pos != live {
		return eventstore.Position{}, fmt.Errorf("rebuild: copy at %s after catching up to the live copy at %s", b.pos, live)
	}
	if frozen && b.pos.Compare(live) < 0 {
		return eventstore.Position{}, fmt.Errorf("rebuild: copy at %s is behind the live copy at %s", b.pos, live)
	}
	if err := b.complete(ctx); err != nil {
		return eventstore.Position{}, err
	}
	if err := b.waitForReaders(ctx); err != nil {
		return eventstore.Position{}, err
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = b.switchOver(ctx, live)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55P03" || attempt == switchAttempts { // lock_not_available
			break
		}
		if !sleep(ctx, jitter(2*switchLockTimeout)) {
			return eventstore.Position{}, ctx.Err()
		}
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("switch to the rebuilt copy: %w", err)
	}
	w.log.Info("switched to the rebuilt copy", "generation", b.gen, "position", b.pos.String(),
		"events", b.events, "seconds", time.Since(b.started).Seconds(), "events_per_second", int64(b.rate()),
		"old_copy_kept", b.keepOld)
	return b.pos, nil
}

// waitForReaders waits, up to readerWait, until every transaction that began before the copy's
// last batch committed has ended, so that no reader can pair the live checkpoint with an older state
// of the new tables (see the top of this file).
func (b *build) waitForReaders(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readerWait)
	defer cancel()
	var since time.Time
	if err := b.w.cfg.DB.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&since); err != nil {
		return fmt.Errorf("wait for readers: %w", err)
	}
	for {
		var n int
		err := b.w.cfg.DB.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
    AND backend_xmin IS NOT NULL AND xact_start < $1`, since).Scan(&n)
		switch {
		case ctx.Err() != nil:
			b.w.log.Warn("switching with transactions older than the rebuild's last batch still open",
				"waited", readerWait.String())
			return nil
		case err != nil:
			return fmt.Errorf("wait for readers: %w", err)
		case n == 0:
			return nil
		}
		sleep(ctx, 5*time.Millisecond)
	}
}

// switchOver replaces the live copy with the new one in one transaction; see the top of this file.
func (b *build) switchOver(ctx context.Context, live eventstore.Position) error {
	w := b.w
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	return pgx.BeginFunc(ctx, w.cfg.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+strconv.Itoa(int(switchLockTimeout.Milliseconds()))+`ms'`); err != nil {
			return err
		}
		var (
			at  string
			gen int
		)
		if err := tx.QueryRow(ctx, `SELECT position, generation FROM projection_checkpoints WHERE name = $1 FOR UPDATE`,
			w.name).Scan(&at, &gen); err != nil {
			return fmt.Errorf("lock checkpoint: %w", err)
		}
		if at != live.String() {
			return fmt.Errorf("%w: checkpoint at %s, expected %s", errFenced, at, live)
		}
		var pos string
		err := tx.QueryRow(ctx, `SELECT position FROM projection_rebuilds WHERE name = $1 FOR UPDATE`, w.name).Scan(&pos)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && pos != b.pos.String()) {
			return errRebuildGone
		}
		if err != nil {
			return fmt.Errorf("lock rebuild checkpoint: %w", err)
		}
		tables := w.proj.Tables()
		var lock []string
		for _, t := range tables {
			lock = append(lock, ident(b.live, t), ident(b.schema, t))
		}
		retired := retiredSchema(w.name, gen)
		stmts := []string{
			`LOCK TABLE ` + strings.Join(lock, ", ") + ` IN ACCESS EXCLUSIVE MODE`,
			`DROP SCHEMA IF EXISTS ` + ident(retired) + ` CASCADE`,
			`CREATE SCHEMA ` + ident(retired),
		}
		for _, t := range tables {
			stmts = append(stmts, `ALTER TABLE `+ident(b.live, t)+` SET SCHEMA `+ident(retired))
		}
		for _, t := range tables {
			stmts = append(stmts, `ALTER TABLE `+ident(b.schema, t)+` SET SCHEMA `+ident(b.live))
		}
		stmts = append(stmts, `DROP SCHEMA `+ident(b.schema)+` CASCADE`)
		if !b.keepOld {
			stmts = append(stmts, `DROP SCHEMA `+ident(retired)+` CASCADE`)
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		last := b.pos
		var batch pgx.Batch
		batch.Queue(`UPDATE projection_checkpoints c SET position = $2, commit_pos = $3, prepare_pos = $4,
    last_event_at = coalesce($7, c.last_event_at), schema_version = $5, generation = $6, rebuilt_at = now(),
    rebuild_events = r.events, rebuild_seconds = extract(epoch FROM now() - r.started_at), updated_at = now()
FROM projection_rebuilds r
WHERE c.name = $1 AND r.name = $1`, w.name, last.String(), int64(last.Commit), int64(last.Prepare), w.proj.SchemaVersion(), gen+1, b.lastAt)
		batch.Queue(`DELETE FROM projection_rebuilds WHERE name = $1`, w.name)
		batch.Queue(`SELECT pg_notify($1, $2)`, ProgressChannel, w.name+":"+last.String())
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return err
		}
		b.switchedTo = gen + 1
		return nil
	})
}

// rebuildFrozen carries out the projection's rebuild while the live copy is not followed: when its
// recorded schema version is older than the code's (start), or for RunRebuild. It waits for a
// request when there is none (RebuildOff), and returns the projection's position after the switch.
func (w *worker) rebuildFrozen(ctx context.Context, live eventstore.Position) (eventstore.Position, error) {
	for {
		b, err := w.claim(ctx)
		if err != nil {
			return eventstore.Position{}, err
		}
		if b == nil {
			w.log.Warn("projection waiting for `projector rebuild`: its schema version is older than the code's",
				"schema_version", w.proj.SchemaVersion())
			if !sleep(ctx, w.cfg.RebuildPoll) {
				return eventstore.Position{}, ctx.Err()
			}
			continue
		}
		pos, err := func() (eventstore.Position, error) {
			defer b.close()
			return b.finish(ctx, live, true)
		}()
		if errors.Is(err, errRebuildGone) {
			continue // aborted: wait for the next request
		}
		return pos, err
	}
}

// finishRequest asks the tail loop to finish a rebuild that has caught up with the live copy.
type finishRequest struct {
	b    *build
	done chan error
}

// followRebuilds carries out rebuild requests while tail follows the log: it builds the copy up to
// the live checkpoint, then hands the last step to tail through w.finish. It runs until ctx ends.
func (w *worker) followRebuilds(ctx context.Context) {
	failures := 0
	for {
		err := w.followRebuild(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil || errors.Is(err, errRebuildGone):
			failures = 0
			if !sleep(ctx, w.cfg.RebuildPoll) {
				return
			}
			continue
		}
		failures++
		w.log.Error("rebuild failing", "error", err, "attempt", failures)
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
		msg := err.Error()
		if len(msg) > 4000 {
			msg = msg[:4000]
		}
		_, _ = w.cfg.DB.Exec(callCtx, `UPDATE projection_rebuilds SET last_error = $2, updated_at = now() WHERE name = $1`, w.name, msg)
		cancel()
		if !sleep(ctx, max(w.cfg.RebuildPoll, backoff(failures, w.cfg.MaxBackoff))) {
			return
		}
	}
}

// followRebuild carries out one rebuild request, if there is one.
func (w *worker) followRebuild(ctx context.Context) error {
	b, err := w.claim(ctx)
	if err != nil || b == nil {
		return err
	}
	defer b.close()
	for {
		var live eventstore.Position
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		var token string
		err := w.cfg.DB.QueryRow(callCtx, `SELECT position FROM projection_checkpoints WHERE name = $1`, w.name).Scan(&token)
		cancel()
		if err != nil {
			return fmt.Errorf("read live checkpoint: %w", err)
		}
		if live, err = eventstore.ParsePosition(token); err != nil {
			return err
		}
		n, err := b.step(ctx, &live)
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if !b.completed {
			if err := b.complete(ctx); err != nil {
				return err
			}
			continue // the live copy has moved on meanwhile
		}
		// Caught up with the live copy: the owner's tail loop finishes between two of its batches.
		req := finishRequest{b: b, done: make(chan error, 1)}
		select {
		case w.finish <- req:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-req.done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// RunRebuild carries out the pending rebuild of the projection called name with this process as
// the projection's owner, when no other process owns it, and reports whether it did. When a
// projector owns the projection it returns false at once: that owner carries the rebuild out. As
// no projector follows the live copy, the copy is built up to the head of the log before the
// switch. cfg is as for NewRunner, and its Projections must include name. It returns ErrNoRebuild
// when there is no request (any more).
func RunRebuild(ctx context.Context, cfg Config, name string) (bool, error) {
	if err := cfg.Validate(); err != nil {
		return false, err
	}
	cfg = cfg.withDefaults()
	if cfg.Metrics == nil {
		m, err := NewMetrics(prometheus.NewRegistry())
		if err != nil {
			return false, err
		}
		cfg.Metrics = m
	}
	var proj Projection
	for _, p := range cfg.Projections {
		if p.Name() == name {
			proj = p
		}
	}
	if proj == nil {
		return false, fmt.Errorf("projections: no projection %q", name)
	}
	counter, _ := cfg.Store.(eventCounter)
	w := newWorker(proj, &cfg, counter)
	lock, err := w.connectLock(ctx)
	if err != nil {
		return false, fmt.Errorf("connect for the projection lock: %w", err)
	}
	defer w.closeLock(ctx, lock)
	class, object := lockKey(name)
	var got bool
	if err := lock.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, class, object).Scan(&got); err != nil {
		return false, fmt.Errorf("try the projection lock: %w", err)
	}
	if !got {
		return false, nil
	}
	ownCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go watchLock(ownCtx, lock, cfg.LockCheck, cancel)

	var token string
	if err := cfg.DB.QueryRow(ownCtx, `SELECT coalesce((SELECT position FROM projection_checkpoints WHERE name = $1), '0:0')`,
		name).Scan(&token); err != nil {
		return true, fmt.Errorf("read checkpoint: %w", err)
	}
	live, err := eventstore.ParsePosition(token)
	if err != nil {
		return true, err
	}
	b, err := w.claim(ownCtx)
	if err != nil {
		return true, err
	}
	if b == nil {
		return true, fmt.Errorf("%s: %w", name, ErrNoRebuild)
	}
	defer b.close()
	if _, err := b.finish(ownCtx, live, true); err != nil {
		if cause := context.Cause(ownCtx); cause != nil && ctx.Err() == nil {
			return true, cause
		}
		return true, err
	}
	return true, nil
}
