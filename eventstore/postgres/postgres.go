package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	segjson "github.com/segmentio/encoding/json"

	"github.com/orderflow/orderflow/eventstore"
)

// Store is the PostgreSQL event store. It is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	group *groupCommit // nil: no group commit
}

var _ eventstore.Store = (*Store)(nil)

// Open returns a store on pool, whose database must have the event-store
// migrations applied. Open also keeps positions increasing after a
// database was restored into another cluster (see the package doc).
// Appends are group-committed (see [GroupCommit]) unless an option says
// otherwise.
func Open(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	// pg_current_xact_id() gives this transaction an ID: every transaction
	// after it gets a greater one, so the offset computed here holds for all
	// appends that follow.
	_, err := pool.Exec(ctx, `
UPDATE eventstore_settings s
SET xid_offset = m.max_tx - pg_current_xact_id()::text::bigint + 1
FROM (SELECT max(tx_id) AS max_tx FROM events) m
WHERE m.max_tx IS NOT NULL
  AND m.max_tx >= pg_current_xact_id()::text::bigint + s.xid_offset`)
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", translate(err))
	}
	s := &Store{pool: pool}
	GroupCommit(DefaultGroupCommit)(s)
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// querier is what an append needs: the pool, or a caller's transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Expectation kinds as the append statement takes them.
const (
	expectAny = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// appendSQL writes a whole append in one statement and one round trip. The
// current version is read and checked in the same statement; two appends
// that both pass the check race for the same (stream_id, version), and the
// unique constraint lets exactly one of them commit.
const appendSQL = `
WITH cur AS (
    SELECT coalesce(max(version), 0) AS v FROM events WHERE stream_id = $1
), ins AS (
    INSERT INTO events (tx_id, event_id, stream_id, version, type, schema_version, data, metadata)
    SELECT pg_current_xact_id()::text::bigint + s.xid_offset, e.id, $1, cur.v + e.ord, e.type, e.sv, e.data::jsonb, e.meta::jsonb
    FROM cur, eventstore_settings s,
         unnest($2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[]) WITH ORDINALITY AS e(id, type, sv, data, meta, ord)
    WHERE CASE $7::int
        WHEN 1 THEN cur.v = 0
        WHEN 2 THEN cur.v > 0
        WHEN 3 THEN cur.v = $8::bigint
        ELSE true END
    ORDER BY e.ord
    RETURNING version, tx_id, seq
)
SELECT cur.v, ins.version, ins.tx_id, ins.seq FROM cur LEFT JOIN ins ON true ORDER BY ins.seq`

// appendOneSQL is appendSQL for the common case of one event, and about a
// third cheaper for the server (measured with pgbench): no CTEs, no
// unnest, no casts from text, no join to report the current version. It
// returns no row when the expectation fails, and the caller asks for the
// version then, on the failure path only.
const appendOneSQL = `
INSERT INTO events (tx_id, event_id, stream_id, version, type, schema_version, data, metadata)
SELECT pg_current_xact_id()::text::bigint + s.xid_offset, $2, $1, cur.v + 1, $3, $4, $5, $6
FROM (SELECT coalesce(max(version), 0) AS v FROM events WHERE stream_id = $1) cur, eventstore_settings s
WHERE CASE $7::int
    WHEN 1 THEN cur.v = 0
    WHEN 2 THEN cur.v > 0
    WHEN 3 THEN cur.v = $8::bigint
    ELSE true END
RETURNING version, tx_id, seq`

// Append implements eventstore.Appender.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	a, err := prepareAppend(stream, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if s.group == nil || len(events) != 1 {
		return appendAlone(ctx, s.pool, a)
	}
	return s.group.append(ctx, a)
}

// appendAlone writes a on a connection of its own from pool. pgxpool reports a connection it could
// not hand out in time as the bare context error, the same as a statement that ran out of time: told
// apart here, that failure says that nothing was sent, and the caller need not wonder whether the
// events were written.
func appendAlone(ctx context.Context, pool *pgxpool.Pool, a *appendArgs) (eventstore.AppendResult, error) {
	conn, err := acquire(ctx, pool)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", a.stream, err)
	}
	defer conn.Release()
	return appendPrepared(ctx, conn, a)
}

// acquire takes a connection from pool. Its failure (no connection free in time, or none could be
// made) sent nothing. A caller that gave up is not an unavailable store: its context's cancellation
// stays what it is, as translate leaves it, so that the circuit breaker does not count it.
func acquire(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) {
	conn, err := pool.Acquire(ctx)
	switch {
	case err == nil:
		return conn, nil
	case errors.Is(err, context.Canceled):
		return nil, fmt.Errorf("%w: no connection: %w", eventstore.ErrNotWritten, err)
	default:
		return nil, fmt.Errorf("%w: %w: no connection: %w", eventstore.ErrUnavailable, eventstore.ErrNotWritten, err)
	}
}

// AppendTx appends within the caller's transaction: the events are written
// if and when tx commits. Until then the transaction holds back every
// reader of the global log, so keep it short.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	// A failed statement aborts a transaction; the savepoint keeps tx usable
	// for the follow-up queries of a conflict or a retried append.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, translate(err))
	}
	res, err := appendEvents(ctx, savepoint{sp}, stream, expected, events)
	if err != nil {
		_ = sp.Rollback(ctx)
		return res, err
	}
	if err := sp.Commit(ctx); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, translate(err))
	}
	return res, nil
}

func appendEvents(ctx context.Context, q querier, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	a, err := prepareAppend(stream, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return appendPrepared(ctx, q, a)
}

// appendArgs is one append, validated and encoded as the statements take it.
type appendArgs struct {
	stream   string
	expected eventstore.ExpectedVersion
	kind     int
	exact    uint64
	ids      []uuid.UUID
	types    []string
	versions []int32
	data     []string
	metas    []string
}

func prepareAppend(stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (*appendArgs, error) {
	if err := eventstore.Validate(stream, events); err != nil {
		return nil, err
	}
	n := len(events)
	a := &appendArgs{
		stream: stream, expected: expected, kind: expectAny,
		ids: make([]uuid.UUID, n), types: make([]string, n), versions: make([]int32, n),
		data: make([]string, n), metas: make([]string, n),
	}
	for i, e := range events {
		meta, err := json.Marshal(e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("%w: metadata of event %s: %v", eventstore.ErrInvalidEvent, e.ID, err)
		}
		a.ids[i], a.types[i], a.versions[i], a.data[i], a.metas[i] = e.ID, e.Type, int32(e.SchemaVersion), string(e.Data), string(meta)
	}
	switch v, ok := expected.Exact(); {
	case ok:
		a.kind, a.exact = expectExact, v
	case expected.IsNoStream():
		a.kind = expectNoStream
	case expected.IsStreamExists():
		a.kind = expectStreamExists
	}
	return a, nil
}

func appendPrepared(ctx context.Context, q querier, a *appendArgs) (eventstore.AppendResult, error) {
	stream, expected := a.stream, a.expected
	// Appends at any version, or to an existing stream, only fail their
	// race by bad luck: another append took the next version first. They
	// try again; exact expectations report the conflict.
	for attempt := 0; ; attempt++ {
		res, current, err := tryAppend(ctx, q, a)
		if err == nil {
			return res, nil
		}
		var pgErr *pgconn.PgError
		raced := errors.As(err, &pgErr) && pgErr.Code == "23505"
		if !raced && !errors.Is(err, errExpectation) {
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, translate(err))
		}
		if prior, ok, err := replayed(ctx, q, stream, expected, a.ids); ok || err != nil {
			return prior, err
		}
		if raced && pgErr.ConstraintName == "events_event_id_key" {
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, eventstore.ErrDuplicateEventID)
		}
		if raced {
			if current, err = streamVersion(ctx, q, stream); err != nil {
				return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
			}
			if expected.Allows(current) && attempt < 10 {
				continue
			}
		}
		return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: current}
	}
}

// errExpectation marks an append refused by its expectation before any
// row was written.
var errExpectation = errors.New("expectation not met")

func tryAppend(ctx context.Context, q querier, a *appendArgs) (eventstore.AppendResult, uint64, error) {
	if len(a.ids) == 1 {
		return tryAppendOne(ctx, q, a)
	}
	rows, err := q.Query(ctx, appendSQL, a.stream, uuidBytes(a.ids), a.types, a.versions, a.data, a.metas, a.kind, int64(a.exact))
	if err != nil {
		return eventstore.AppendResult{}, 0, err
	}
	var (
		current int64
		res     eventstore.AppendResult
		written int
	)
	for rows.Next() {
		var version, tx, seq *int64
		if err := rows.Scan(&current, &version, &tx, &seq); err != nil {
			rows.Close()
			return eventstore.AppendResult{}, 0, err
		}
		if version != nil {
			written++
			res = eventstore.AppendResult{Version: uint64(*version), Position: position(*tx, *seq)}
		}
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, 0, err
	}
	if written == 0 {
		return eventstore.AppendResult{}, uint64(current), errExpectation
	}
	return res, uint64(current), nil
}

func tryAppendOne(ctx context.Context, q querier, a *appendArgs) (eventstore.AppendResult, uint64, error) {
	var v, tx, seq int64
	// pgx sends strings for jsonb parameters as they are: the server parses
	// the JSON once and nothing is re-encoded here.
	err := q.QueryRow(ctx, appendOneSQL, a.stream, [16]byte(a.ids[0]), a.types[0], a.versions[0], a.data[0], a.metas[0], a.kind, int64(a.exact)).Scan(&v, &tx, &seq)
	if errors.Is(err, pgx.ErrNoRows) {
		current, err := streamVersion(ctx, q, a.stream)
		if err != nil {
			return eventstore.AppendResult{}, 0, err
		}
		return eventstore.AppendResult{}, current, errExpectation
	}
	if err != nil {
		return eventstore.AppendResult{}, 0, err
	}
	return eventstore.AppendResult{Version: uint64(v), Position: position(tx, seq)}, uint64(v), nil
}

// replayed reports whether the events were already appended to stream
// right after expected: then this append is a retry and gets the original
// result. It returns ErrDuplicateEventID when some of the IDs are in the
// log in any other way.
func replayed(ctx context.Context, q querier, stream string, expected eventstore.ExpectedVersion, ids []uuid.UUID) (eventstore.AppendResult, bool, error) {
	rows, err := q.Query(ctx, `
SELECT e.stream_id, e.version, e.tx_id, e.seq
FROM unnest($1::uuid[]) WITH ORDINALITY AS i(id, ord)
LEFT JOIN events e ON e.event_id = i.id
ORDER BY i.ord`, ids)
	if err != nil {
		return eventstore.AppendResult{}, false, translate(err)
	}
	type found struct {
		stream  *string
		version *int64
		tx, seq *int64
	}
	var all []found
	for rows.Next() {
		var f found
		if err := rows.Scan(&f.stream, &f.version, &f.tx, &f.seq); err != nil {
			rows.Close()
			return eventstore.AppendResult{}, false, translate(err)
		}
		all = append(all, f)
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, false, translate(err)
	}
	matched, missing := 0, 0
	for i, f := range all {
		switch {
		case f.stream == nil:
			missing++
		case *f.stream == stream && *f.version == *all[0].version+int64(i) && all[0].version != nil:
			matched++
		}
	}
	switch {
	case missing == len(all):
		return eventstore.AppendResult{}, false, nil
	case matched == len(all) && expected.Allows(uint64(*all[0].version)-1):
		last := all[len(all)-1]
		return eventstore.AppendResult{Version: uint64(*last.version), Position: position(*last.tx, *last.seq)}, true, nil
	default:
		return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: %w", stream, eventstore.ErrDuplicateEventID)
	}
}

func streamVersion(ctx context.Context, q querier, stream string) (uint64, error) {
	var v int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1`, stream).Scan(&v)
	if err != nil {
		return 0, translate(err)
	}
	return uint64(v), nil
}

const eventColumns = `tx_id, seq, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at`

// ReadStream implements eventstore.StreamReader.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events
WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`, stream, int64(max(from, 1)), limit)
	if err != nil {
		return nil, fmt.Errorf("read %s from %d: %w", stream, from, translate(err))
	}
	out, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("read %s from %d: %w", stream, from, err)
	}
	// Versions start at 1, so an empty read from the start means no stream; only a read past the
	// end of a stream needs to ask whether it exists (this saves a round trip per new order).
	if len(out) == 0 && from <= 1 && limit > 0 {
		return nil, fmt.Errorf("read %s: %w", stream, eventstore.ErrStreamNotFound)
	}
	if len(out) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = $1)`, stream).Scan(&exists); err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, translate(err))
		}
		if !exists {
			return nil, fmt.Errorf("read %s: %w", stream, eventstore.ErrStreamNotFound)
		}
	}
	return out, nil
}

// visibleBelow is the first transaction ID whose events a reader may not
// see yet: the xmin of the statement's own snapshot, shifted like the IDs.
const visibleBelow = `(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint + xid_offset FROM eventstore_settings)`

// readAllSQL reads the log after a position, up to the events a reader may see (visibleBelow).
const readAllSQL = `SELECT ` + eventColumns + ` FROM events
WHERE (tx_id, seq) > ($1, $2) AND tx_id < ` + visibleBelow + `
ORDER BY tx_id, seq LIMIT $3`

// genericPlan makes the rest of its transaction run prepared statements on their generic plans.
// ReadAll and grouped appends (groupCommit.insert) send it ahead of their statement (queryGeneric).
// Left to itself, PostgreSQL plans readAllSQL afresh on every call: a generic plan must be cheaper
// than the average custom one, and readAllSQL's never is, since it takes LIMIT $3 for a tenth of
// the rows the range selects while a custom plan knows the limit. Both are the same scan of the
// log's primary key, but planning each read of the log took about 80 µs (pg_stat_statements) and
// 14 % of PostgreSQL's CPU in the bench's lag step (perf). With is_local, the setting ends with the
// transaction: in a batch without BEGIN, the implicit one that ends at the batch's Sync. In exec
// modes other than the pool's default (statement cache) the statements are unnamed and planned
// every time anyway; the setting then does nothing.
const genericPlan = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`

// ReadAll implements eventstore.LogReader, on the read's generic plan (see queryGeneric).
func (s *Store) ReadAll(ctx context.Context, from eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	results, rows, err := queryGeneric(ctx, s.pool, readAllSQL, int64(from.Commit), int64(from.Prepare), limit)
	var out []eventstore.RecordedEvent
	if err == nil {
		out, err = scanEvents(rows, limit)
	}
	if cerr := results.Close(); err == nil && cerr != nil {
		err = translate(cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("read log after %s: %w", from, err)
	}
	return out, nil
}

// queryGeneric runs the query sql on its prepared statement's generic plan: it sends genericPlan and
// sql in one batch, one round trip as sql alone. The caller reads rows (nil with an error, which is
// translated) and then closes results, which ends the batch's implicit transaction.
func queryGeneric(ctx context.Context, db interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, sql string, args ...any) (pgx.BatchResults, pgx.Rows, error) {
	batch := &pgx.Batch{}
	batch.Queue(genericPlan)
	batch.Queue(sql, args...)
	results := db.SendBatch(ctx, batch)
	if _, err := results.Exec(); err != nil {
		return results, nil, translate(err)
	}
	rows, err := results.Query()
	if err != nil {
		return results, nil, translate(err)
	}
	return results, rows, nil
}

// Head implements eventstore.LogReader.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	var tx, seq int64
	err := s.pool.QueryRow(ctx, `SELECT tx_id, seq FROM events WHERE tx_id < `+visibleBelow+`
ORDER BY tx_id DESC, seq DESC LIMIT 1`).Scan(&tx, &seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Position{}, nil
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("read log head: %w", translate(err))
	}
	return position(tx, seq), nil
}

// CountEvents returns the number of events after position after, up to and including upTo, counting
// no further than limit. Pass a head from Head as upTo: every event before it is final, so the count
// is exact. It walks the log's primary key, so its cost grows with the count: keep limit modest.
func (s *Store) CountEvents(ctx context.Context, after, upTo eventstore.Position, limit int64) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (
    SELECT 1 FROM events WHERE (tx_id, seq) > ($1, $2) AND (tx_id, seq) <= ($3, $4) LIMIT $5) s`,
		int64(after.Commit), int64(after.Prepare), int64(upTo.Commit), int64(upTo.Prepare), limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count events after %s: %w", after, translate(err))
	}
	return n, nil
}

// LogBlocker is a transaction that holds the global log back: no reader
// sees events committed after it started until it ends.
type LogBlocker struct {
	PID            int // 0 for a prepared transaction
	Database       string
	User           string
	Application    string
	State          string
	TransactionID  int64
	TransactionAge time.Duration
	Query          string
}

// LogBlockers lists the transactions with an ID, oldest first: the first
// one holds the log back. Appends in flight show up here for a moment;
// a blocker worth a look is one whose age keeps growing.
func (s *Store) LogBlockers(ctx context.Context) ([]LogBlocker, error) {
	rows, err := s.pool.Query(ctx, `
SELECT coalesce(pid, 0), coalesce(database, ''), coalesce(username, ''), coalesce(application_name, ''),
       coalesce(state, ''), xid, coalesce(transaction_age, '0'), coalesce(query, '')
FROM eventstore_log_blockers WHERE pid IS DISTINCT FROM pg_backend_pid() ORDER BY xid_age DESC`)
	if err != nil {
		return nil, fmt.Errorf("list log blockers: %w", translate(err))
	}
	blockers, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LogBlocker, error) {
		var b LogBlocker
		err := row.Scan(&b.PID, &b.Database, &b.User, &b.Application, &b.State, &b.TransactionID, &b.TransactionAge, &b.Query)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list log blockers: %w", translate(err))
	}
	return blockers, nil
}

func scanEvents(rows pgx.Rows, limit int) ([]eventstore.RecordedEvent, error) {
	// Callers ask for large pages (the command service reads streams 1,000 events at a time) that
	// mostly come back short: sizing the slice by limit cleared ~250 kB per read, a tenth of the
	// command API's CPU in a profile. When a page fills, see pageCap.
	out := make([]eventstore.RecordedEvent, 0, min(limit, 16))
	// One set of scan destinations for the whole page: declared in the loop, each variable escaped to
	// the heap once per row through Scan's ...any, with the argument slice (a quarter of a rebuild's
	// allocated bytes in a profile).
	var (
		e       eventstore.RecordedEvent
		tx, seq int64
		version int64
		// The metadata is decoded before the next row, so it can stay in pgx's buffer.
		meta pgtype.DriverBytes
	)
	// The ID as *[16]byte, see uuidBytes. Data as *[]byte: pgx copies the JSON as it is. Into a
	// json.RawMessage it would go through json.Unmarshal, which validates every byte (a fifth of a
	// rebuild's CPU in a profile) of what PostgreSQL's jsonb already guarantees is valid.
	dest := []any{&tx, &seq, (*[16]byte)(&e.ID), &e.StreamID, &version, &e.Type, &e.SchemaVersion, (*[]byte)(&e.Data), &meta, &e.RecordedAt}
	for rows.Next() {
		if len(out) == cap(out) {
			out = slices.Grow(out, pageCap(cap(out), limit)-len(out))
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, translate(err)
		}
		// Unmarshal leaves the fields the JSON lacks as they were: the previous row's.
		e.Metadata = eventstore.Metadata{}
		// segmentio's Unmarshal does what encoding/json's does, several times faster: metadata was 9 %
		// of a rebuild's CPU through encoding/json. It copies the strings it decodes.
		if err := segjson.Unmarshal(meta, &e.Metadata); err != nil {
			rows.Close()
			return nil, fmt.Errorf("event %s: metadata: %w", e.ID, err)
		}
		e.Version, e.Position = uint64(version), position(tx, seq)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// pageCap is the capacity a page of events grows to once it holds n and limit allows more. It
// doubles up to 256, then takes the whole limit (when that is a sensible size): a page past a few
// hundred events is most likely a full one, read by a catch-up or a rebuild, and append's own growth
// (by a quarter past 256) allocated and copied a 5,000-event page about four times over.
func pageCap(n, limit int) int {
	const wholeAfter, maxWhole = 256, 10_000
	if n >= wholeAfter && limit <= maxWhole {
		return limit
	}
	return min(2*n, limit)
}

// uuidBytes is ids as pgx encodes them directly. A uuid.UUID goes through its driver.Valuer: to
// text, a failed binary encode that formats an error, then a parse (pgtype.Map.Encode: 1.5 µs for
// one ID, 86 ns as a [16]byte; 6.6 % of BenchmarkAppend's CPU). Likewise, IDs are scanned into a
// *[16]byte: into a uuid.UUID they go through its sql.Scanner, as text.
func uuidBytes(ids []uuid.UUID) [][16]byte {
	out := make([][16]byte, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

func position(tx, seq int64) eventstore.Position {
	return eventstore.Position{Commit: uint64(tx), Prepare: uint64(seq)}
}

// savepoint adapts a nested pgx.Tx to querier.
type savepoint struct{ tx pgx.Tx }

func (s savepoint) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return s.tx.Query(ctx, sql, args...)
}

func (s savepoint) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return s.tx.QueryRow(ctx, sql, args...)
}
