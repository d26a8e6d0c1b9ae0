package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/telemetry"
)

// worker runs one projection in one process: it waits for the projection's lock, then tails the log
// from the projection's checkpoint until the lock or ctx is lost.
type worker struct {
	proj    Projection
	name    string
	cfg     *Config
	counter eventCounter         // nil when the store cannot count events
	source  eventstore.LogReader // of the batches: the runner's logWindow, else the store
	wake    chan struct{}
	ended   *batchEnds         // shared by the runner's workers; nil outside a runner
	finish  chan finishRequest // from followRebuilds to tail
	log     *slog.Logger
	m       *Metrics
	tracer  trace.Tracer

	mu     sync.Mutex
	status Status

	// The generation of the checkpoint this owner applies batches to (see projection_advance): read
	// at start, moved by this owner's switches to rebuilt copies. Used by the worker's goroutine only.
	gen int

	// The status last written to projection_status, to pace idle writes. Used by the worker's
	// goroutine only.
	written   State
	writtenAt time.Time

	// The last count of the events left to apply, and the events applied since, to pace counts (see
	// measure). Used by the worker's goroutine only.
	counted      int64
	countedAt    time.Time
	appliedSince int64
}

// eventCounter is what the runner needs from a store to report lag in events: the PostgreSQL store
// has it, EventStoreDB has no cheap equivalent.
type eventCounter interface {
	CountEvents(ctx context.Context, after, upTo eventstore.Position, limit int64) (int64, error)
}

// lagCountCap bounds the lag count: beyond it the exact number does not matter, and counting costs.
const lagCountCap = 100_000

// lagCountEvery paces the lag counts of a projection catching up. A count walks the log from the
// projection's position to the head, so counting for every batch made a catch-up quadratic in its
// backlog (measured: 6,600 events/s catching up 82,000 events); between two counts the lag is the
// last count less the events applied since.
const lagCountEvery = time.Second

// visibilityRetries is how often, at least, an idle projection reads again after a wake-up found
// nothing, Config.VisibilityRetry (5 ms), 10 ms, 20 ms... apart: the log shows a transaction's events
// only once every older transaction has ended, which may be a moment after the notification.
const visibilityRetries = 5

// batchEnds tells the workers of a runner that another of them has ended a batch's transaction. The
// log shows an event only once every transaction older than the event's has ended (see
// eventstore/postgres), and the runner's own batches are such transactions from their first write
// on, so a wake-up that comes while another projection's batch is open often finds the new events
// still hidden, and reads again the moment that batch ends rather than at its next retry. A worker's
// own batch ends are not signalled to it: its next read comes after them anyway. Other transactions
// in the database hide events too; the retries cover those.
type batchEnds struct {
	mu sync.Mutex
	ch map[string]chan struct{} // by worker; closed and replaced at each end of another's batch
}

func newBatchEnds() *batchEnds { return &batchEnds{ch: map[string]chan struct{}{}} }

// wait returns a channel closed when the next batch of a worker other than name ends; nil, which
// blocks forever, for e nil.
func (e *batchEnds) wait(name string) <-chan struct{} {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.ch[name]
	if !ok {
		ch = make(chan struct{})
		e.ch[name] = ch
	}
	return ch
}

// signal tells every worker but name that a batch of name's has ended.
func (e *batchEnds) signal(name string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for other, ch := range e.ch {
		if other != name {
			close(ch)
			delete(e.ch, other)
		}
	}
}

// callTimeout bounds single statements outside a batch's transaction (status writes, lock queries).
const callTimeout = 5 * time.Second

func newWorker(p Projection, cfg *Config, counter eventCounter) *worker {
	w := &worker{
		proj:    p,
		name:    p.Name(),
		cfg:     cfg,
		counter: counter,
		source:  cfg.Store,
		wake:    make(chan struct{}, 1),
		finish:  make(chan finishRequest),
		log:     cfg.Logger.With("projection", p.Name()),
		m:       cfg.Metrics,
		tracer:  cfg.TracerProvider.Tracer(telemetry.ScopeName + "/projections"),
	}
	w.status = Status{Name: w.name, SchemaVersion: p.SchemaVersion(), State: StateWaitingForLock, LagEvents: -1}
	w.m.setState(w.name, StateWaitingForLock)
	w.m.setOwned(w.name, false)
	return w
}

// run takes the projection's lock whenever it can and runs the projection while it holds it.
func (w *worker) run(ctx context.Context) {
	for {
		w.setState(StateWaitingForLock)
		lock, err := w.acquire(ctx)
		if err != nil {
			return // ctx ended
		}
		w.log.InfoContext(ctx, "projection owned", "owner", w.cfg.Owner)
		err = w.own(ctx, lock)
		if ctx.Err() != nil {
			return
		}
		w.log.WarnContext(ctx, "projection given up", "error", err)
		if !sleep(ctx, jitter(w.cfg.LockRetry)) {
			return
		}
	}
}

// own runs the projection while this process holds its lock on the connection lock, and releases the
// lock (by closing the connection) when it returns. It returns when ctx ends, the lock connection
// breaks (errLockLost) or another process has moved the checkpoint (errFenced).
func (w *worker) own(parent context.Context, lock *pgx.Conn) error {
	ctx, cancel := context.WithCancelCause(parent)
	var watch sync.WaitGroup
	watch.Go(func() { watchLock(ctx, lock, w.cfg.LockCheck, cancel) })
	w.written = "" // the owner changed: the first status write must not wait
	w.setOwned(true)

	err := w.tail(ctx)

	cancel(nil)
	watch.Wait()
	lost := context.Cause(ctx)
	if !errors.Is(lost, errLockLost) && parent.Err() != nil {
		w.markStopped()
	}
	w.setOwned(false)
	closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(parent), callTimeout)
	_ = lock.Close(closeCtx)
	cancelClose()
	if errors.Is(lost, errLockLost) {
		return lost
	}
	return err
}

// tail applies the log to the projection batch by batch until ctx ends or the checkpoint is fenced.
// Failures are recorded and retried with backoff; they never end tail.
func (w *worker) tail(ctx context.Context) error {
	var (
		pos      eventstore.Position
		failures int
		err      error
	)
	for {
		if pos, err = w.start(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		failures++
		w.failed(ctx, err, nil, failures)
		if !sleep(ctx, backoff(failures, w.cfg.MaxBackoff)) {
			return nil
		}
	}

	// Rebuild requests are carried out beside the tail, which finishes them between two batches.
	var rebuilds sync.WaitGroup
	defer rebuilds.Wait()
	rebuildCtx, stopRebuilds := context.WithCancel(ctx)
	defer stopRebuilds()
	rebuilds.Go(func() { w.followRebuilds(rebuildCtx) })

	poll := time.NewTimer(w.cfg.PollInterval)
	defer poll.Stop()
	retry := time.NewTimer(w.cfg.VisibilityRetry)
	defer retry.Stop()
	// Visibility retries since the last wake-up or read, and whether more are due.
	retries, following := 0, false
	for {
		select {
		case req := <-w.finish:
			pos = w.finishRebuild(ctx, req, pos)
		default:
		}
		var (
			n    int
			more bool
		)
		ended := w.ended.wait(w.name) // before the read, so that no batch ending after it is missed
		pos, n, more, err = w.step(ctx, pos)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errFenced):
			return err
		case err != nil:
			failures++
			var poison *poisonError
			var at *eventstore.Position
			if errors.As(err, &poison) {
				at = &poison.at
			}
			w.failed(ctx, err, at, failures)
			if !sleep(ctx, backoff(failures, w.cfg.MaxBackoff)) {
				return nil
			}
			continue
		}
		failures = 0
		if more {
			continue
		}
		if n > 0 {
			// The read came back short of a batch: it reached the head of the log as it was. Reading
			// again at once would mostly find nothing. What was appended since comes with a wake-up;
			// what the read could not see yet, within the first retry below.
			retries, following = 0, true
		}
		// Nothing (more) to read. Soon after a wake-up that may only mean that the new events are not
		// visible yet: read again after VisibilityRetry, then twice as long, and so on, or as soon as
		// another projection's batch ends, since its transaction may be what hides them (see
		// batchEnds). Past the first visibilityRetries, the retries go on while they wait less than
		// the poll: any transaction in the cluster that began before the append hides its events
		// until it ends (a CREATE DATABASE, an index build, a long report), and the doubling finds
		// them at most about as long after that as it had waited. Then wait for a wake-up or the poll.
		// A wake-up ends either wait at once: it announces newer events, which waiting out a back-off
		// would delay by up to its longest step. The back-off keeps a projection from reading in a
		// loop while nothing becomes visible (7 reads after a wake-up, by default); wake-ups come at
		// most once per notify interval of each writer.
		wait := poll
		// VisibilityRetry << retries < PollInterval, without the shift that could overflow.
		if following && (retries < visibilityRetries || w.cfg.VisibilityRetry < w.cfg.PollInterval>>retries) {
			wait = retry
			retry.Reset(w.cfg.VisibilityRetry << retries)
			retries++
		} else {
			following = false
			w.idle(ctx, pos)
			poll.Reset(w.cfg.PollInterval)
			ended = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ended:
		case <-w.wake:
			retries, following = 0, true
		case <-wait.C:
		case req := <-w.finish:
			pos = w.finishRebuild(ctx, req, pos)
		}
	}
}

// start makes sure the projection has a checkpoint of its schema version, rebuilding it from the
// start of the log when the recorded version is older, and returns the checkpoint.
func (w *worker) start(parent context.Context) (eventstore.Position, error) {
	ctx, cancel := context.WithTimeout(parent, w.cfg.Timeout)
	defer cancel()
	version := w.proj.SchemaVersion()
	if _, err := w.cfg.DB.Exec(ctx, `INSERT INTO projection_checkpoints (name, schema_version) VALUES ($1, $2)
ON CONFLICT (name) DO NOTHING`, w.name, version); err != nil {
		return eventstore.Position{}, fmt.Errorf("create checkpoint: %w", err)
	}
	pos, stored, err := w.readCheckpoint(ctx)
	if err != nil {
		return eventstore.Position{}, err
	}
	switch {
	case stored > version:
		return eventstore.Position{}, fmt.Errorf("the read model has schema version %d, newer than this projector's %d: run a newer projector", stored, version)
	case stored < version:
		// The live copy keeps serving, frozen at pos, while the new version is built beside it.
		cancel() // the rebuild takes longer than one call; it bounds its own steps
		w.log.Warn("schema version changed: rebuilding the projection blue-green", "from_schema_version", stored,
			"schema_version", version, "mode", string(w.cfg.RebuildOnStart))
		if w.cfg.RebuildOnStart == RebuildBlueGreen {
			callCtx, cancelCall := context.WithTimeout(parent, callTimeout)
			_, err := RequestRebuild(callCtx, w.cfg.DB, w.proj, w.cfg.Owner, false)
			cancelCall()
			if err != nil {
				return eventstore.Position{}, err
			}
		}
		if _, err = w.rebuildFrozen(parent, pos); err != nil {
			return eventstore.Position{}, err
		}
		// The switch moved the checkpoint to the new copy's position and generation.
		readCtx, cancelRead := context.WithTimeout(parent, callTimeout)
		pos, _, err = w.readCheckpoint(readCtx)
		cancelRead()
		if err != nil {
			return eventstore.Position{}, err
		}
	}
	w.update(func(s *Status) { s.Position = pos })
	return pos, nil
}

// readCheckpoint reads the projection's checkpoint: its position, which it returns with its schema
// version, and its generation, which batches are applied to from then on (w.gen).
func (w *worker) readCheckpoint(ctx context.Context) (eventstore.Position, int, error) {
	var (
		token        string
		version, gen int
	)
	if err := w.cfg.DB.QueryRow(ctx, `SELECT position, schema_version, generation FROM projection_checkpoints WHERE name = $1`,
		w.name).Scan(&token, &version, &gen); err != nil {
		return eventstore.Position{}, 0, fmt.Errorf("read checkpoint: %w", err)
	}
	pos, err := eventstore.ParsePosition(token)
	if err != nil {
		return eventstore.Position{}, 0, fmt.Errorf("checkpoint: %w", err)
	}
	w.gen = gen
	return pos, version, nil
}

// finishRebuild finishes the rebuild of req at the live position pos, between two batches of the
// tail, and returns the position to go on from.
func (w *worker) finishRebuild(ctx context.Context, req finishRequest, pos eventstore.Position) eventstore.Position {
	next, err := req.b.finish(ctx, pos, false)
	req.done <- err
	if err != nil {
		return pos
	}
	w.gen = req.b.switchedTo
	w.update(func(s *Status) { s.SchemaVersion = w.proj.SchemaVersion() })
	return next
}

// step reads the batch after pos and applies it. It returns the new position, the number of events
// applied, and whether more were waiting after them. When the batch fails in the projection, step applies its events one at a time, so
// that those before the failing one commit and the error names the failing one (a *poisonError).
func (w *worker) step(ctx context.Context, pos eventstore.Position) (eventstore.Position, int, bool, error) {
	size := w.cfg.BatchSize
	readCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	// One event more than a batch tells whether more are waiting and how old the oldest is, for free.
	events, err := w.source.ReadAll(readCtx, pos, size+1)
	if err != nil {
		return pos, 0, false, fmt.Errorf("read log after %s: %w", pos, err)
	}
	if len(events) == 0 {
		return pos, 0, false, nil
	}
	var next *eventstore.RecordedEvent
	if len(events) > size {
		next, events = &events[size], events[:size]
	}
	ctx, span := w.startBatch(ctx, pos, events)
	defer span.End()
	last := events[len(events)-1].Position
	// A read that returned less than it asked for reached the head of the log as it was then, which
	// is all StateRunning claims: asking the store where the head is now would add round trips to
	// every live batch, the lag of which they measure.
	prog := progress{state: StateRunning, head: last}
	if next != nil {
		if prog, err = w.measure(trace.ContextWithSpan(readCtx, span), last, *next, len(events)); err != nil {
			recordError(span, err)
			return pos, 0, false, err
		}
	}

	err = w.commit(ctx, pos, events, prog)
	var apply *applyError
	switch {
	case err == nil:
		return last, len(events), next != nil, nil
	case !errors.As(err, &apply) || transient(err):
		recordError(span, err)
		return pos, 0, false, err
	case w.moved(ctx, pos):
		// Another owner applied the batch first (a take-over), and this one failed on its rows: not a
		// poison event.
		recordError(span, err)
		return pos, 0, false, fmt.Errorf("%w: %w", errFenced, err)
	case len(events) == 1:
		recordError(span, err)
		return pos, 0, false, &poisonError{at: events[0].Position, id: events[0].ID, err: apply.err}
	}
	recordError(span, err)
	w.log.WarnContext(ctx, "batch failed; applying its events one at a time to find the failing one",
		"after", pos.String(), "events", len(events), "error", err)
	for i := range events {
		err := w.commit(ctx, pos, events[i:i+1], prog)
		if errors.As(err, &apply) && !transient(err) {
			return pos, i, false, &poisonError{at: events[i].Position, id: events[i].ID, err: apply.err}
		}
		if err != nil {
			return pos, i, false, err
		}
		pos = events[i].Position
	}
	return pos, len(events), true, nil // read on: the batch was split, not read to the head
}

// moved reports whether the checkpoint is no longer at pos, as after another process took the
// projection over. An error reading it counts as not moved: the caller goes on as it would have.
func (w *worker) moved(ctx context.Context, pos eventstore.Position) bool {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var at string
	err := w.cfg.DB.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE name = $1`, w.name).Scan(&at)
	return err == nil && at != pos.String()
}

// startBatch starts the span of a batch. A batch is a consumer of many producers' work, so rather than
// a parent it has a link to each distinct trace context its events recorded: the span of the command
// that wrote them. The SDK keeps up to OTEL_SPAN_LINK_COUNT_LIMIT links (default 128), which covers a
// batch of commands that wrote several events each.
func (w *worker) startBatch(ctx context.Context, after eventstore.Position, events []eventstore.RecordedEvent) (context.Context, trace.Span) {
	var links []trace.Link
	type spanKey struct {
		trace.TraceID
		trace.SpanID
	}
	seen := make(map[spanKey]bool)
	for _, e := range events {
		sc := telemetry.Extract(e.Metadata.TraceParent, e.Metadata.TraceState)
		key := spanKey{sc.TraceID(), sc.SpanID()}
		if !sc.IsValid() || seen[key] {
			continue
		}
		seen[key] = true
		links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{
			attribute.String("eventstore.event_id", e.ID.String()),
		}})
	}
	return w.tracer.Start(ctx, "projection "+w.name+" batch",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("projection", w.name),
			attribute.String("projection.after", after.String()),
			attribute.Int("projection.events", len(events)),
		))
}

func recordError(span trace.Span, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, "batch failed")
}

// progress is where a projection stands against the head of the log.
type progress struct {
	state      State
	head       eventstore.Position
	lagEvents  int64 // -1: unknown
	lagSeconds float64
}

// measure returns the progress the projection will have once it is at position at, with more events
// waiting, next the first of them.
func (w *worker) measure(ctx context.Context, at eventstore.Position, next eventstore.RecordedEvent, batch int) (progress, error) {
	head, err := w.cfg.Store.Head(ctx)
	if err != nil {
		return progress{}, fmt.Errorf("read log head: %w", err)
	}
	now := w.cfg.Now()
	p := progress{state: StateCatchingUp, head: head, lagEvents: -1,
		lagSeconds: max(0, now.Sub(next.RecordedAt).Seconds())}
	if w.counter == nil {
		return p, nil
	}
	w.appliedSince += int64(batch)
	if now.Sub(w.countedAt) < lagCountEvery {
		p.lagEvents = max(1, w.counted-w.appliedSince) // next is still to apply
		return p, nil
	}
	if p.lagEvents, err = w.counter.CountEvents(ctx, at, head, lagCountCap); err != nil {
		return progress{}, err
	}
	w.counted, w.countedAt, w.appliedSince = p.lagEvents, now, 0
	return p, nil
}

// commit applies events, which follow from, and moves the checkpoint to the last of them in one
// transaction. The checkpoint moves only from from, in the generation this owner started from: if
// another process has moved it (it took over while this one lost its lock without noticing yet) or
// switched to a rebuilt copy, projection_advance raises fencedCode, the transaction rolls back and
// the error is errFenced. The advisory lock keeps two owners apart in the normal case; this check is
// what makes a double apply impossible in the rare one.
//
// The projection reads what it needs before the transaction begins, and its writes go to the server
// in one pipeline with BEGIN, the checkpoint's statements and COMMIT: once the statements are
// prepared on the connection, a live batch costs two round trips (one without reads), not the five
// that begin, reads, writes, checkpoint and commit took one after the other. The reads need no
// transaction: this process is the projection's only writer, and the fence catches the moment of a
// take-over, in which another owner's batch may have changed the rows after they were read. The
// fence comes first in the transaction, so that two owners of one batch queue on the checkpoint's
// row (the second then finds it moved), as a switch to a rebuilt copy does, rather than on each
// other's rows. A transaction also costs the log's readers: from its first write until it ends, it
// hides every event appended meanwhile (see postgres.Store.ReadAll), from every projection; in one
// pipeline that is one round trip long. Writes that need round trips of their own (COPY, for large
// batches) run in an explicit transaction, after the fence, and the rest follows in one pipeline.
//
// The transaction commits without waiting for its WAL to reach the disk (asyncCommit): see there.
func (w *worker) commit(ctx context.Context, from eventstore.Position, events []eventstore.RecordedEvent, p progress) error {
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	conn, err := w.cfg.DB.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()

	var writes Writes
	if err := w.proj.Apply(ctx, conn, events, &writes); err != nil {
		return &applyError{err: err}
	}
	last := events[len(events)-1]
	fence := &pgx.QueuedQuery{SQL: `SELECT projection_advance($1, $2, $3, $4, $5, $6, $7)`, Arguments: []any{w.name, w.gen,
		from.String(), last.Position.String(), int64(last.Position.Commit), int64(last.Position.Prepare), last.RecordedAt}}
	after := []*pgx.QueuedQuery{
		{SQL: statusSQL, Arguments: w.statusArgs(p)},
		{SQL: asyncCommit},
		{SQL: `SELECT pg_notify($1, $2)`, Arguments: []any{ProgressChannel, w.name + ":" + last.Position.String()}},
	}
	if len(writes.copies) == 0 {
		err = w.commitPipelined(ctx, conn, from, fence, writes.stmts, after)
	} else {
		err = w.commitCopies(ctx, conn, from, fence, &writes, after)
	}
	w.ended.signal(w.name) // the transaction has ended, one way or the other
	if err != nil {
		return err
	}

	w.written, w.writtenAt = p.state, time.Now()
	w.m.applied.WithLabelValues(w.name).Add(float64(len(events)))
	w.m.batchSize.WithLabelValues(w.name).Observe(float64(len(events)))
	w.m.batchTime.WithLabelValues(w.name).Observe(time.Since(started).Seconds())
	w.progressed(last.Position, p)
	return nil
}

// commitPipelined runs fence, writes and after in one transaction, in one round trip. The round trip
// does not end with ctx (a lost lock, a shutdown): cut short, it would leave its outcome unknown, to
// the metrics too, while committing a batch already sent is safe, since the fence keeps any other
// owner off.
func (w *worker) commitPipelined(ctx context.Context, conn *pgxpool.Conn, from eventstore.Position, fence *pgx.QueuedQuery, writes, after []*pgx.QueuedQuery) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Timeout)
	defer cancel()
	qs := make([]*pgx.QueuedQuery, 0, len(writes)+len(after)+3)
	qs = append(qs, &pgx.QueuedQuery{SQL: "BEGIN"}, fence)
	qs = append(qs, writes...)
	qs = append(qs, after...)
	qs = append(qs, &pgx.QueuedQuery{SQL: "COMMIT"})
	failed, err := pipeline(ctx, conn, qs)
	switch {
	case err == nil:
		return nil
	case failed == len(qs):
		// COMMIT succeeded; only the end of the exchange did not. The connection goes (see pipeline).
		w.log.WarnContext(ctx, "batch committed, but its connection failed after the commit", "error", err)
		return nil
	}
	if conn.Conn().PgConn().TxStatus() != 'I' {
		// A failed statement leaves the transaction aborted, not ended. A connection that cannot roll
		// back is closed, and the pool drops it.
		if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
			_ = conn.Conn().Close(ctx)
		}
	}
	switch {
	case failed == 0:
		return fmt.Errorf("begin: %w", err)
	case failed == 1:
		return checkpointError(from, err)
	case failed < 2+len(writes):
		return &applyError{err: err}
	case failed == len(qs)-1:
		return fmt.Errorf("commit: %w", err)
	}
	return fmt.Errorf("write checkpoint: %w", err)
}

// commitCopies runs fence and the copies of writes in a transaction of their own round trips, then
// the rest of writes and after in one pipeline, and commits.
func (w *worker) commitCopies(ctx context.Context, conn *pgxpool.Conn, from eventstore.Position, fence *pgx.QueuedQuery, writes *Writes, after []*pgx.QueuedQuery) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op once committed
	if _, err := tx.Exec(ctx, fence.SQL, fence.Arguments...); err != nil {
		return checkpointError(from, err)
	}
	if err := writes.runIn(ctx, tx, after...); err != nil {
		if _, ok := errors.AsType[*applyError](err); ok {
			return err
		}
		return fmt.Errorf("write checkpoint: %w", err)
	}
	// As in commitPipelined: committing what was written is safe, and a commit cut short is not.
	commitCtx, cancelCommit := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Timeout)
	defer cancelCommit()
	if err := tx.Commit(commitCtx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// checkpointError is the error of a batch whose fence failed with err.
func checkpointError(from eventstore.Position, err error) error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == fencedCode {
		return fmt.Errorf("%w: the checkpoint is no longer at %s, or was switched to a rebuilt copy", errFenced, from)
	}
	return fmt.Errorf("write checkpoint: %w", err)
}

// fencedCode is the SQLSTATE projection_advance raises when the checkpoint is no longer where, or of
// the generation, the batch's owner read it (migrations/readmodel/00006_projection_advance.sql).
const fencedCode = "PJ001"

// pipeline sends qs through db in one round trip. It returns the first error and the index of the
// statement that failed (the server skips the statements after it), or len(qs) when every statement
// succeeded but the exchange did not end cleanly. An error pgx meets before sending (preparing a
// statement, encoding its arguments) is the first statement's with its SQL.
func pipeline(ctx context.Context, db interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, qs []*pgx.QueuedQuery) (int, error) {
	if len(qs) == 0 {
		return -1, nil
	}
	results := db.SendBatch(ctx, &pgx.Batch{QueuedQueries: qs})
	failed, err := -1, error(nil)
	for i := range qs {
		if _, err = results.Exec(); err != nil {
			failed = i
			break
		}
	}
	if cerr := results.Close(); err == nil && cerr != nil {
		failed, err = len(qs), cerr
	}
	if pre, ok := errors.AsType[pgx.ErrPreprocessingBatch](err); ok {
		if i := slices.IndexFunc(qs, func(q *pgx.QueuedQuery) bool { return q.SQL == pre.SQL() }); i >= 0 {
			failed = i
		}
	}
	return failed, err
}

// asyncCommit lets a batch's transaction commit without waiting for its WAL to be flushed to disk
// (or, with synchronous replication, for a standby). A read model is derived from the log, and a
// batch commits its checkpoint with its rows: a crash of the server may lose the last batches
// committed (up to wal_writer_delay times three, 600 ms by default; on a failover, what the standby
// had not received), but only whole, with their checkpoint, and the projector applies them again
// from the log. That assumes the log itself is durable: the event store's appends keep the server's
// synchronous_commit. Nothing is lost but time; in exchange, a batch's commit no longer waits for a
// disk flush, which on a durable server was the larger part of a small batch's time. Readers may see
// a read model step back to an older position after such a crash, even one already notified; the
// query API checks what it reads against the position a request asks for.
const asyncCommit = `SET LOCAL synchronous_commit = off`

// statusSQL writes a healthy status: it clears the error of an earlier failure.
const statusSQL = `INSERT INTO projection_status AS s
    (name, state, schema_version, owner, head_position, lag_events, lag_seconds, error_count, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, 0, now())
ON CONFLICT (name) DO UPDATE SET state = excluded.state, schema_version = excluded.schema_version,
    owner = excluded.owner, head_position = excluded.head_position, lag_events = excluded.lag_events,
    lag_seconds = excluded.lag_seconds, last_error = NULL, error_position = NULL, error_count = 0,
    updated_at = excluded.updated_at`

func (w *worker) statusArgs(p progress) []any {
	var lag *int64
	if p.lagEvents >= 0 {
		lag = &p.lagEvents
	}
	return []any{w.name, string(p.state), w.proj.SchemaVersion(), w.cfg.Owner, p.head.String(), lag, p.lagSeconds}
}

// idle records that the projection is caught up at pos. The status row is written when the state
// changes and then every StatusInterval, not at every poll: an idle projector would otherwise write
// several rows a second forever.
func (w *worker) idle(ctx context.Context, pos eventstore.Position) {
	p := progress{state: StateIdle, head: pos}
	w.progressed(pos, p)
	if w.written == StateIdle && time.Since(w.writtenAt) < w.cfg.StatusInterval {
		return
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := w.cfg.DB.Exec(callCtx, statusSQL, w.statusArgs(p)...); err != nil {
		w.log.WarnContext(ctx, "write projection status", "error", err)
		return
	}
	w.written, w.writtenAt = StateIdle, time.Now()
}

// failed records a failed attempt: in the log, the metrics and projection_status. at is the failing
// event's position, nil when the failure is not an event's.
func (w *worker) failed(ctx context.Context, err error, at *eventstore.Position, failures int) {
	msg := err.Error()
	if len(msg) > 4000 {
		msg = msg[:4000]
	}
	var atToken *string
	args := []any{"error", err, "attempt", failures}
	if at != nil {
		t := at.String()
		atToken = &t
		args = append(args, "position", t)
	}
	w.log.ErrorContext(ctx, "projection failing", args...)
	w.m.errors.WithLabelValues(w.name).Inc()
	w.setState(StateFailing)
	w.update(func(s *Status) {
		s.LastError, s.ErrorCount, s.ErrorPosition = msg, failures, nil
		if at != nil {
			pos := *at
			s.ErrorPosition = &pos
		}
	})
	// Not in the failed transaction, which is gone; on a fresh context so that an error that came
	// from a deadline still gets recorded.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	if _, err := w.cfg.DB.Exec(callCtx, `INSERT INTO projection_status AS s
    (name, state, schema_version, owner, last_error, error_position, error_count, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 1, now())
ON CONFLICT (name) DO UPDATE SET state = excluded.state, schema_version = excluded.schema_version,
    owner = excluded.owner, last_error = excluded.last_error, error_position = excluded.error_position,
    error_count = s.error_count + 1, updated_at = excluded.updated_at`,
		w.name, string(StateFailing), w.proj.SchemaVersion(), w.cfg.Owner, msg, atToken); err != nil {
		w.log.WarnContext(ctx, "write projection status", "error", err)
		return
	}
	w.written, w.writtenAt = StateFailing, time.Now()
}

// markStopped records a clean shutdown, unless another process has taken over meanwhile.
func (w *worker) markStopped() {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := w.cfg.DB.Exec(ctx, `UPDATE projection_status SET state = $3, owner = NULL, updated_at = now()
WHERE name = $1 AND owner = $2`, w.name, w.cfg.Owner, string(StateStopped)); err != nil {
		w.log.WarnContext(ctx, "write projection status", "error", err)
	}
}

// progressed updates this process's view after the projection reached pos.
func (w *worker) progressed(pos eventstore.Position, p progress) {
	w.m.setProgress(w.name, pos, p)
	w.m.setState(w.name, p.state)
	w.update(func(s *Status) {
		s.State, s.Position, s.Head, s.LagEvents, s.LagSeconds = p.state, pos, p.head, p.lagEvents, p.lagSeconds
		s.LastError, s.ErrorPosition, s.ErrorCount = "", nil, 0
	})
}

func (w *worker) setState(s State) {
	w.m.setState(w.name, s)
	w.update(func(st *Status) { st.State = s })
}

func (w *worker) setOwned(owned bool) {
	w.m.setOwned(w.name, owned)
	w.update(func(s *Status) {
		s.Owned = owned
		if !owned {
			s.Head, s.LagEvents, s.LagSeconds = eventstore.Position{}, -1, 0
		}
	})
}

func (w *worker) update(f func(*Status)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.status)
}

func (w *worker) snapshot() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status
	if s.ErrorPosition != nil {
		pos := *s.ErrorPosition
		s.ErrorPosition = &pos
	}
	return s
}
