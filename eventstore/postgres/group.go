package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/eventstore"
)

// Group commit: concurrent one-event appends to different streams share one statement and one
// transaction.
//
// A one-event append costs the server little beyond its statement and its commit, so most of a
// busy store's work is per transaction, not per event. One append, or one batch of them, runs at a
// time ([DefaultGroupCommit]); an append that finds it running queues, and when it ends the whole
// queue is written in one INSERT. Nothing waits for a batch to fill: with one client every append
// runs at once, on its own, exactly as without grouping. One at a time is what measured best on a
// 2-core server (BenchmarkAppend: about 0.8 of a bare one-row insert at 8 clients and 1.6 at 32,
// against 0.55 and 1.6 with four at a time and 0.75 and 0.6 with no grouping); a batch of hundreds
// of appends is still one short statement.
//
// Each append keeps its own expectation and its own outcome. The grouped INSERT checks every
// expectation against the current version of its stream and leaves out the rows that fail it. An
// append whose row the group did not write, for whatever reason, runs again on its own, through
// the ungrouped path with its conflict and replay handling: so the answers are those of the
// ungrouped store. When the server refuses the statement (a concurrent append took a stream's next
// version, an event ID is already recorded, a JSON string cannot be stored), it wrote nothing, and
// every append of the batch runs on its own. That is rare, and cheaper than ON CONFLICT DO
// NOTHING, which would check every unique index twice for every row. A batch never holds two
// appends to one stream, whose versions would depend on each other.

// DefaultGroupCommit is the number of appends (or grouped batches of appends) a Store runs at once
// unless told otherwise with [GroupCommit].
const DefaultGroupCommit = 1

// maxGroup bounds the appends written by one grouped statement.
const maxGroup = 128

// groupTimeout bounds a grouped statement whose appends carry no deadline.
const groupTimeout = 30 * time.Second

// Option configures [Open].
type Option func(*Store)

// GroupCommit sets how many appends run at once before the others queue and are written together
// (see the package doc). 0 turns grouping off: every append runs on its own, however many are
// waiting. Keep it well below the pool size, so that reads always find a connection.
func GroupCommit(concurrent int) Option {
	return func(s *Store) {
		if concurrent <= 0 {
			s.group = nil
			return
		}
		s.group = &groupCommit{pool: s.pool, slots: concurrent}
	}
}

type groupCommit struct {
	pool  *pgxpool.Pool
	slots int // appends or batches running at once, at most

	mu      sync.Mutex
	running int
	queue   []*queuedAppend
}

type queuedAppend struct {
	ctx  context.Context
	args *appendArgs
	done chan struct{}
	// Set before done is closed. written false and err nil: the group did not write the event,
	// and the append runs on its own.
	written bool
	res     eventstore.AppendResult
	err     error
}

// append writes a one-event append, grouped with others when the store is busy.
func (g *groupCommit) append(ctx context.Context, a *appendArgs) (eventstore.AppendResult, error) {
	g.mu.Lock()
	if g.running < g.slots && len(g.queue) == 0 {
		// The store is not busy: write at once, in this goroutine.
		g.running++
		g.mu.Unlock()
		defer g.release()
		return appendAlone(ctx, g.pool, a)
	}
	q := &queuedAppend{ctx: ctx, args: a, done: make(chan struct{})}
	g.queue = append(g.queue, q)
	if g.running < g.slots {
		g.running++
		go g.drain()
	}
	g.mu.Unlock()

	select {
	case <-q.done:
	case <-ctx.Done():
		g.mu.Lock()
		i := slices.Index(g.queue, q)
		if i >= 0 {
			g.queue = slices.Delete(g.queue, i, i+1)
		}
		g.mu.Unlock()
		// Still queued: nothing was written. Taken: the outcome is unknown, as when a deadline cuts
		// an ungrouped append short, and the caller finds out by reading its stream.
		if i >= 0 {
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w: %w", a.stream, eventstore.ErrNotWritten, translate(ctx.Err()))
		}
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", a.stream, translate(ctx.Err()))
	}
	if q.written || q.err != nil {
		return q.res, q.err
	}
	return appendAlone(ctx, g.pool, a)
}

// release frees a slot, and hands it to a drainer if appends are queued.
func (g *groupCommit) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) > 0 {
		go g.drain()
		return
	}
	g.running--
}

// drain writes the queue, a batch at a time, until it is empty; it holds one slot meanwhile.
func (g *groupCommit) drain() {
	for {
		g.mu.Lock()
		batch := g.take()
		if len(batch) == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.write(batch)
	}
}

// take removes from the queue, oldest first, up to maxGroup appends to distinct streams. g.mu is
// held.
func (g *groupCommit) take() []*queuedAppend {
	var batch []*queuedAppend
	streams := make(map[string]struct{}, min(len(g.queue), maxGroup))
	rest := g.queue[:0]
	for _, q := range g.queue {
		if _, dup := streams[q.args.stream]; dup || len(batch) == maxGroup {
			rest = append(rest, q)
			continue
		}
		streams[q.args.stream] = struct{}{}
		batch = append(batch, q)
	}
	clear(g.queue[len(rest):])
	g.queue = rest
	return batch
}

// groupSQL is appendOneSQL for many streams at once. A row whose expectation fails is not
// inserted and not returned, and its append runs again on its own.
const groupSQL = `
INSERT INTO events (tx_id, event_id, stream_id, version, type, schema_version, data, metadata)
SELECT pg_current_xact_id()::text::bigint + s.xid_offset, e.id, e.stream, cur.v + 1, e.type, e.sv, e.data::jsonb, e.meta::jsonb
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[], $7::int[], $8::bigint[])
         WITH ORDINALITY AS e(stream, id, type, sv, data, meta, kind, exact, ord)
     CROSS JOIN LATERAL (SELECT coalesce(max(version), 0) AS v FROM events WHERE stream_id = e.stream) cur
     CROSS JOIN eventstore_settings s
WHERE CASE e.kind
    WHEN 1 THEN cur.v = 0
    WHEN 2 THEN cur.v > 0
    WHEN 3 THEN cur.v = e.exact
    ELSE true END
ORDER BY e.ord
RETURNING event_id, version, tx_id, seq`

// write writes batch and settles each of its appends.
func (g *groupCommit) write(batch []*queuedAppend) {
	if len(batch) == 1 {
		q := batch[0]
		q.res, q.err = appendAlone(q.ctx, g.pool, q.args)
		q.written = q.err == nil
		close(q.done)
		return
	}
	n := len(batch)
	var (
		streams, types, data, metas = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ids                         = make([][16]byte, n) // see uuidBytes
		versions, kinds             = make([]int32, n), make([]int32, n)
		exacts                      = make([]int64, n)
		byID                        = make(map[uuid.UUID]*queuedAppend, n)
	)
	for i, q := range batch {
		a := q.args
		streams[i], ids[i], types[i], versions[i], data[i], metas[i] = a.stream, a.ids[0], a.types[0], a.versions[0], a.data[0], a.metas[0]
		kinds[i], exacts[i] = int32(a.kind), int64(a.exact)
		byID[a.ids[0]] = q
	}
	ctx, cancel := batchContext(batch)
	defer cancel()
	err := g.insert(ctx, byID, streams, ids, types, versions, data, metas, kinds, exacts)
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &pgErr) && !transient(err) {
		// The server refused the statement for one of its rows: it wrote nothing, and each append
		// runs on its own to get its own answer.
		err = nil
	}
	for _, q := range batch {
		if err != nil {
			q.err = fmt.Errorf("append to %s: %w", q.args.stream, translate(err))
		}
		close(q.done)
	}
}

func (g *groupCommit) insert(ctx context.Context, byID map[uuid.UUID]*queuedAppend, args ...any) error {
	conn, err := acquire(ctx, g.pool)
	if err != nil {
		return err
	}
	defer conn.Release()
	// On its generic plan (see genericPlan): a custom plan knows how many rows unnest gives, so the
	// generic plan, which takes a hundred, never looks as cheap, and each group was planned anew.
	results, rows, err := queryGeneric(ctx, conn, groupSQL, args...)
	var written []*queuedAppend
	if err == nil {
		written, err = readGroup(rows, byID)
	}
	// The implicit transaction commits at the batch's end: only then is anything written.
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err // the statement, and so the transaction, failed: nothing was written
	}
	for _, q := range written {
		q.written = true
	}
	return nil
}

// readGroup reads the rows the grouped statement inserted into their appends in byID, and returns
// those appends.
func readGroup(rows pgx.Rows, byID map[uuid.UUID]*queuedAppend) ([]*queuedAppend, error) {
	defer rows.Close()
	var written []*queuedAppend
	for rows.Next() {
		var (
			id               uuid.UUID
			version, tx, seq int64
		)
		if err := rows.Scan((*[16]byte)(&id), &version, &tx, &seq); err != nil {
			return nil, err
		}
		if q := byID[id]; q != nil {
			q.res = eventstore.AppendResult{Version: uint64(version), Position: position(tx, seq)}
			written = append(written, q)
		}
	}
	return written, rows.Err()
}

// batchContext is the context of a grouped statement: it carries the first append's values (its
// trace, say) and ends at the latest deadline of the batch, not with any one append's context.
func batchContext(batch []*queuedAppend) (context.Context, context.CancelFunc) {
	deadline, all := time.Time{}, true
	for _, q := range batch {
		d, ok := q.ctx.Deadline()
		all = all && ok
		if d.After(deadline) {
			deadline = d
		}
	}
	if !all {
		deadline = time.Now().Add(groupTimeout)
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), deadline)
}
