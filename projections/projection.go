package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	segjson "github.com/segmentio/encoding/json"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
)

// Projection names. They key checkpoints, status rows and advisory locks, and the query API reads
// them: they are durable, and renaming one is a migration, not a refactor. None contains ':' (the
// NOTIFY payload is "name:position").
const (
	NameOrders          = "orders"
	NameCustomerSummary = "customer_summary"
	NameDailySales      = "daily_sales"
	NameAuditLog        = "audit_log"
)

// A Projection turns events into rows of its own tables.
type Projection interface {
	// Name is the projection's durable name.
	Name() string
	// SchemaVersion is the version of the projection's tables and of how it fills them. The runner
	// rebuilds a projection from the start of the log when it finds an older version recorded.
	SchemaVersion() int
	// Apply folds batch, a run of events in log order, into writes to the projection's tables. It
	// reads what it needs of them through db, which shows them as the batches before this one left
	// them, and queues the writes on w. The runner runs them in one transaction with the
	// projection's checkpoint, so Apply sees every event exactly once unless a crash or a fault makes
	// it see events again: it must skip events whose stream version it has already applied. Any
	// error, Apply's or a write's, fails the whole batch.
	Apply(ctx context.Context, db Querier, batch []eventstore.RecordedEvent, w *Writes) error
	// Reset deletes everything the projection wrote.
	Reset(ctx context.Context, tx pgx.Tx) error
	// Tables names every table the projection writes, unqualified: a blue-green rebuild builds a
	// copy of each in a schema of its own and moves them into the live schema together. Apply and
	// Reset must name their tables unqualified, so that the search path decides which copy they write.
	Tables() []string
}

// A Querier is what a projection's Apply reads through: a connection outside any transaction for a
// live batch, whose writes then go in one round trip with the checkpoint's (see worker.commit); the
// rebuild's transaction for a rebuild batch. pgx.Tx, *pgx.Conn and *pgxpool.Conn are Queriers.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Writes are what a projection's Apply has a batch change: statements, which the runner pipelines
// with the checkpoint's own, and copies, which cannot be pipelined and run first.
type Writes struct {
	stmts  []*pgx.QueuedQuery
	copies []func(ctx context.Context, tx pgx.Tx) error
}

// Queue adds a statement. Statements run in the order queued, after every copy.
func (w *Writes) Queue(sql string, args ...any) {
	w.stmts = append(w.stmts, &pgx.QueuedQuery{SQL: sql, Arguments: args})
}

// Copy adds a write that needs round trips of its own, such as a COPY of many new rows. It runs in
// the batch's transaction, before the queued statements, and must leave that transaction usable
// when it returns no error.
func (w *Writes) Copy(f func(ctx context.Context, tx pgx.Tx) error) { w.copies = append(w.copies, f) }

// runIn runs w in tx: the copies, then the statements, with after in the same pipeline. An error of
// w's own is an *applyError; one of after's is returned as it is.
func (w *Writes) runIn(ctx context.Context, tx pgx.Tx, after ...*pgx.QueuedQuery) error {
	for _, c := range w.copies {
		if err := c(ctx, tx); err != nil {
			return &applyError{err: err}
		}
	}
	failed, err := pipeline(ctx, tx, append(slices.Clip(w.stmts), after...))
	if err != nil && failed < len(w.stmts) {
		return &applyError{err: err}
	}
	return err
}

// A TableCreator creates its projection's tables itself, unqualified, in the schema first on tx's
// search path. A projection whose new schema version changes the shape of its tables implements it,
// so that a blue-green rebuild builds the new shape; for one that does not, the rebuild copies each
// live table's definition (CREATE TABLE ... (LIKE live INCLUDING ALL)).
type TableCreator interface {
	CreateTables(ctx context.Context, tx pgx.Tx) error
}

// A KeyDeferrer is a projection whose Apply needs no unique key of its tables: it never upserts,
// and skips duplicates with ON CONFLICT DO NOTHING without a conflict target, which needs no key to
// be there. A blue-green rebuild of its live tables' copies then adds their primary keys and unique
// constraints after the copy is built, as it does for their other indexes: a key of random values,
// such as an event ID, costs a random index write for every row (in PostgreSQL 15 here, inserting a
// million audit rows took 5.7 s with the key against 1.0 s without it and 0.9 s to add it after).
// A rebuild applies each event once, since its checkpoint commits with its rows, so the key finds no
// duplicate when it is added. A TableCreator's own tables keep their keys.
type KeyDeferrer interface {
	DefersKeys() bool
}

// All returns the platform's projections.
func All() []Projection {
	return []Projection{Orders{}, CustomerSummary{}, DailySales{}, AuditLog{}}
}

// orderStreamPrefix starts every order stream's name; events of other streams are not about orders
// and every projection here skips them.
const orderStreamPrefix = "order-"

// orderID returns the order a stream belongs to, and false for a stream that is not an order's.
func orderID(stream string) (uuid.UUID, bool, error) {
	rest, ok := strings.CutPrefix(stream, orderStreamPrefix)
	if !ok {
		return uuid.Nil, false, nil
	}
	id, err := uuid.Parse(rest)
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("stream %q: not an order ID: %w", stream, err)
	}
	return id, true, nil
}

// orderEvent is a decoded event of an order stream.
type orderEvent struct {
	rec   *eventstore.RecordedEvent
	order uuid.UUID
	event domain.Event
}

// decodeOrderEvents decodes the order events of batch, in order, upcasting old schema versions. An
// event that does not decode fails the batch: it is a poison event, and skipping it would make the
// read model silently wrong.
func decodeOrderEvents(batch []eventstore.RecordedEvent) ([]orderEvent, error) {
	out := make([]orderEvent, 0, len(batch))
	for i := range batch {
		rec := &batch[i]
		id, ok, err := orderID(rec.StreamID)
		if err != nil {
			return nil, fmt.Errorf("event %s at %s: %w", rec.ID, rec.Position, err)
		}
		if !ok {
			continue
		}
		e, err := domain.UnmarshalEvent(rec.Type, rec.SchemaVersion, rec.Data)
		if err != nil {
			return nil, fmt.Errorf("event %s at %s: %w", rec.ID, rec.Position, err)
		}
		out = append(out, orderEvent{rec: rec, order: id, event: e})
	}
	return out, nil
}

// binaryIDs is ids as pgx writes them in binary. A uuid.UUID goes through its driver.Valuer: to text,
// and a failed binary encode that formats an error, for every element of an array (see
// eventstore/postgres). Likewise, IDs are scanned into a *[16]byte, not through uuid's sql.Scanner.
func binaryIDs(ids []uuid.UUID) [][16]byte {
	out := make([][16]byte, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// touched returns the distinct orders of events, in first-seen order.
func touched(events []orderEvent) []uuid.UUID {
	seen := make(map[uuid.UUID]struct{}, len(events))
	var ids []uuid.UUID
	for _, e := range events {
		if _, ok := seen[e.order]; !ok {
			seen[e.order] = struct{}{}
			ids = append(ids, e.order)
		}
	}
	return ids
}

// fresh reports whether e is the next event of its order after version applied, false if it was
// applied already (a replay). Any other version is a gap: the log promises none, so it means a bug
// or a projection that did not start at the beginning of the log, and it fails the batch.
func fresh(applied int64, e orderEvent) (bool, error) {
	v := int64(e.rec.Version)
	switch {
	case v <= applied:
		return false, nil
	case v == applied+1:
		return true, nil
	default:
		return false, fmt.Errorf("event %s (%s) of order %s has version %d, but the read model is at version %d",
			e.rec.ID, e.rec.Type, e.order, v, applied)
	}
}

// queueRows queues on w one statement that writes rows, structs whose JSON field names
// are table's columns, as `INSERT INTO table (columns) SELECT columns FROM the rows ... tail`, tail
// being its ON CONFLICT clause. However many rows there are, that is one statement: the rows travel
// as one JSON array, and jsonb_populate_recordset types them by the table's own row type. A batch of
// thousands of events thus costs a few statements, which is what makes rebuilds fast; per-row
// statements, even pipelined, cost the server a parse, bind and execute each. COPY into a staging
// table was the alternative: faster still for huge batches, but it needs a temporary table per table
// and connection and three round trips per table. Keys must be distinct within rows (ON CONFLICT DO
// UPDATE cannot change a row twice in one statement); the projections fold batches so that they are.
func queueRows[T any](w *Writes, table, columns string, rows []T, tail string) error {
	if len(rows) == 0 {
		return nil
	}
	data, err := segjson.Marshal(rows) // what encoding/json writes, in less time
	if err != nil {
		return fmt.Errorf("encode rows of %s: %w", table, err)
	}
	w.Queue(`INSERT INTO `+table+` (`+columns+`)
SELECT `+columns+` FROM jsonb_populate_recordset(NULL::`+table+`, $1::jsonb)
`+tail, string(data))
	return nil
}

// copyFrom is the number of new rows from which a projection writes them with COPY rather than with
// a statement: COPY is the cheaper way in for many rows (a rebuild creates thousands per batch) but
// costs round trips of its own, which a live batch of a few events should not pay.
const copyFrom = 64

// copyRows is rows as pgx.CopyFrom takes them, one values slice at a time.
func copyRows[T any](rows []T, values func(T) []any) pgx.CopyFromSource {
	i := -1
	return pgx.CopyFromFunc(func() ([]any, error) {
		if i++; i == len(rows) {
			return nil, nil
		}
		return values(rows[i]), nil
	})
}

// columnList splits a comma-separated column list such as orderColumns.
func columnList(columns string) []string {
	list := strings.Split(columns, ",")
	for i, c := range list {
		list[i] = strings.TrimSpace(c)
	}
	return list
}
