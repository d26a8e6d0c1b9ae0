package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/resilience"
)

// StreamName returns the name of the event stream of order id.
func StreamName(id uuid.UUID) string { return "order-" + id.String() }

// store is what the service needs of the event store.
type store interface {
	eventstore.Appender
	eventstore.StreamReader
}

// Options tune a Service. Zero fields take the defaults.
type Options struct {
	// Now is the clock commands are decided with (default time.Now).
	Now func() time.Time
	// StoreTimeout bounds each call to the store (default 5 s).
	StoreTimeout time.Duration
	// MaxAttempts bounds the attempts of a command without If-Match that meets version conflicts
	// (default 8).
	MaxAttempts int
	// RetryInitial and RetryMax shape the jittered exponential backoff between attempts (defaults 5 ms
	// and 250 ms).
	RetryInitial, RetryMax time.Duration
	// OutageAttempts bounds the tries of a command that meets transient store errors (default 4);
	// OutageInitial and OutageMax shape the backoff between them (defaults 100 ms and 1 s).
	OutageAttempts           int
	OutageInitial, OutageMax time.Duration
	// CacheSize is how many orders the service keeps in memory between commands, so that a command
	// on one of them decides without reading its stream first (default 1,000; negative: none). An
	// order of 10 events takes about 2 KiB. A cached order that another replica has moved on costs a
	// version conflict and a read, never a wrong answer (see orderCache). With the cache, a create
	// without an idempotency key or If-Match does not read either: it presumes a new order the same
	// way.
	CacheSize int
	// Logger gets a line for each retry (default: discard).
	Logger *slog.Logger
}

// Service executes commands. It is safe for concurrent use.
type Service struct {
	store          store
	now            func() time.Time
	storeTimeout   time.Duration
	maxAttempts    int
	retryInitial   time.Duration
	retryMax       time.Duration
	outageAttempts int
	outageInitial  time.Duration
	outageMax      time.Duration
	log            *slog.Logger
	locks          *keyedMutex
	cache          *orderCache // nil: none
}

// NewService returns a service that keeps orders in store.
func NewService(store store, opts Options) *Service {
	s := &Service{
		store:          store,
		now:            opts.Now,
		storeTimeout:   opts.StoreTimeout,
		maxAttempts:    opts.MaxAttempts,
		retryInitial:   opts.RetryInitial,
		retryMax:       opts.RetryMax,
		outageAttempts: opts.OutageAttempts,
		outageInitial:  opts.OutageInitial,
		outageMax:      opts.OutageMax,
		log:            opts.Logger,
		locks:          newKeyedMutex(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.storeTimeout <= 0 {
		s.storeTimeout = 5 * time.Second
	}
	if s.maxAttempts <= 0 {
		s.maxAttempts = 8
	}
	if s.retryInitial <= 0 {
		s.retryInitial = 5 * time.Millisecond
	}
	if s.retryMax <= 0 {
		s.retryMax = 250 * time.Millisecond
	}
	if s.outageAttempts <= 0 {
		s.outageAttempts = 4
	}
	if s.outageInitial <= 0 {
		s.outageInitial = 100 * time.Millisecond
	}
	if s.outageMax <= 0 {
		s.outageMax = time.Second
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 1_000
	}
	s.cache = newOrderCache(opts.CacheSize)
	return s
}

// Request is one command on one order.
type Request struct {
	// OrderID is the order the command is for. A CreateOrder may leave it (and its own OrderID) zero:
	// the service then derives the ID from IdempotencyKey, or draws a random one without a key.
	OrderID uuid.UUID
	Command domain.Command
	// IfMatch, when set, is the version the order must be at: when it is read and when the events are
	// appended. A mismatch is a *PreconditionError and the command is not retried.
	IfMatch *uint64
	// IdempotencyKey, when set, makes the event IDs derived from it (see ids.go).
	IdempotencyKey string
	// Metadata is recorded with every event; the service fills in Command.
	Metadata eventstore.Metadata
	// Authorize, when set, is asked on every attempt whether the caller may act on the order as loaded
	// (which may not exist yet), before anything else: an error ends the command with nothing written.
	Authorize func(*domain.Order) error
}

// Result is the outcome of a command that was applied.
type Result struct {
	OrderID uuid.UUID
	// Version is the order's stream version after the command.
	Version uint64
	// Position is the global log position of the command's last event.
	Position eventstore.Position
	// Created tells that the command created the order.
	Created bool
}

// Execute runs req's command and appends its events. Besides the store's errors it returns:
//
//   - the domain's errors, wrapped, for a command the order refuses (errors.Is with
//     domain.ErrOrderNotFound, domain.ErrNotDraft, ...) and for invalid input;
//   - a *PreconditionError (ErrPreconditionFailed) when IfMatch does not hold;
//   - ErrConflict when the order kept changing through every attempt;
//   - ctx's error if ctx ends first.
//
// A command that fails writes nothing, with one exception: when the store fails in a way that leaves
// open whether an append happened (a timeout, a connection lost before its commit was acknowledged),
// Execute retries and, finding the command's own events in the stream, answers with them; if the
// retries run out it returns ErrOutcomeUnknown wrapping the store's error, and the events may be there
// (or arrive later: a store that received the append may still commit it).
//
// Transient store errors (eventstore.ErrUnavailable, a store call's own timeout) are retried a few
// times with jittered exponential backoff, so that a database restart or failover costs a pause rather
// than an error. A refusal by an open circuit breaker is not retried (it says when to come back), nor
// is anything the order or the caller decided: a domain rejection, a failed precondition.
func (s *Service) Execute(ctx context.Context, req Request) (Result, error) {
	req, err := resolveOrderID(req)
	if err != nil {
		return Result{}, err
	}
	stream := StreamName(req.OrderID)
	unlock, err := s.locks.lock(ctx, stream)
	if err != nil {
		return Result{}, fmt.Errorf("wait for order %s: %w", req.OrderID, err)
	}
	defer unlock()

	x := &execution{
		Service: s,
		req:     req,
		stream:  stream,
		ids:     &eventIDs{key: req.IdempotencyKey, order: req.OrderID},
		order:   &domain.Order{},
	}
	if c, ok := s.cache.take(stream); ok {
		// With an idempotency key, the command's events may be in the stream already, appended since
		// the order was cached: it must read the events after the cached ones before it decides.
		x.order, x.recorded, x.cached = c.order, c.recorded, req.IdempotencyKey == ""
	} else if _, creates := req.Command.(domain.CreateOrder); creates && s.cache != nil && req.IdempotencyKey == "" && req.IfMatch == nil {
		// A create presumes a new order, as if an empty stream were cached: its append at version 0
		// proves it, and an order that exists after all is a conflict, which reads and decides again.
		// Not with If-Match: its conflict is a failed precondition, answered without that read, so
		// the caller would learn of an order it may not see before Authorize had looked at it.
		x.cached = true
	}
	res, err := x.execute(ctx)
	if err != nil && x.maybeApplied {
		err = &OutcomeUnknownError{OrderID: req.OrderID, Err: err}
	}
	// A failed command keeps what it read: a fold of the stream as far as it goes, which is all the
	// cache needs. Orders that do not exist are not kept: a stream of probes would evict real ones.
	if !x.unsure && x.order.Version() > 0 {
		s.cache.put(stream, cachedOrder{order: x.order, recorded: x.recorded})
	}
	return res, err
}

// execute runs the command's attempts, retrying a few times through store outages.
func (x *execution) execute(ctx context.Context) (Result, error) {
	s, req := x.Service, x.req
	tries := 0
	return backoff.Retry(ctx, func() (Result, error) {
		tries++
		res, err := x.decideAndAppend(ctx)
		if s.transient(ctx, err) {
			return res, err
		}
		return res, backoff.Permanent(err)
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     s.outageInitial,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         s.outageMax,
		}),
		backoff.WithMaxTries(uint(s.outageAttempts)),
		backoff.WithNotify(func(err error, wait time.Duration) {
			s.log.WarnContext(ctx, "event store unavailable; retrying the command", "order_id", req.OrderID.String(),
				"command", req.Command.CommandName(), "attempt", tries, "wait", wait.String(), "error", err.Error())
		}),
		backoff.WithMaxElapsedTime(0), // ctx's deadline bounds the whole
	)
}

// transient reports a store failure worth another try: an outage, or a store call that timed out on
// its own deadline while the request's is still running. Not an open breaker's refusal, which would
// only be refused again.
func (s *Service) transient(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, resilience.ErrCircuitOpen) {
		return false
	}
	return errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// decideAndAppend runs the command's attempts against version conflicts: on a conflict without
// If-Match it reads what others appended and decides again.
func (x *execution) decideAndAppend(ctx context.Context) (Result, error) {
	s, req := x.Service, x.req
	attempts := 0
	res, err := backoff.Retry(ctx, func() (Result, error) {
		attempts++
		stale := x.cached
		res, err := x.attempt(ctx)
		if stale && errors.Is(err, eventstore.ErrWrongExpectedVersion) && attempts < s.maxAttempts {
			// The order decided on was cached, or presumed new, and behind the stream: that is no
			// race with another writer, which is what the backoff is for. Read and decide again now.
			attempts++
			res, err = x.attempt(ctx)
		}
		switch {
		case !errors.Is(err, eventstore.ErrWrongExpectedVersion):
			return res, backoff.Permanent(err)
		case attempts >= s.maxAttempts:
			return res, backoff.Permanent(err) // the retry above counts as an attempt of its own
		default:
			return res, err // someone else appended in between: read their events and decide again
		}
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     s.retryInitial,
			RandomizationFactor: 0.5, // replicas that collided once should not collide again in step
			Multiplier:          2,
			MaxInterval:         s.retryMax,
		}),
		backoff.WithMaxTries(uint(s.maxAttempts)),
		backoff.WithNotify(func(err error, wait time.Duration) {
			s.log.DebugContext(ctx, "version conflict; deciding again", "order_id", req.OrderID.String(),
				"command", req.Command.CommandName(), "attempt", attempts, "wait", wait.String(), "error", err.Error())
		}),
		backoff.WithMaxElapsedTime(0), // ctx's deadline bounds the whole
	)
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return Result{}, fmt.Errorf("%s on order %s after %d attempts: %w: %w",
			req.Command.CommandName(), req.OrderID, attempts, ErrConflict, err)
	}
	return res, err
}

// resolveOrderID settles which order req is for.
func resolveOrderID(req Request) (Request, error) {
	if req.Command == nil {
		return req, fmt.Errorf("%w: no command", domain.ErrUnknownCommand)
	}
	create, ok := req.Command.(domain.CreateOrder)
	if !ok {
		if req.OrderID == uuid.Nil {
			return req, domain.ErrInvalidOrderID
		}
		return req, nil
	}
	switch {
	case req.OrderID != uuid.Nil && create.OrderID != uuid.Nil && req.OrderID != create.OrderID:
		return req, fmt.Errorf("%w: request for %s, command for %s", domain.ErrInvalidOrderID, req.OrderID, create.OrderID)
	case req.OrderID == uuid.Nil && create.OrderID != uuid.Nil:
		req.OrderID = create.OrderID
	case req.OrderID == uuid.Nil && req.IdempotencyKey != "":
		req.OrderID = derivedOrderID(req.IdempotencyKey)
	case req.OrderID == uuid.Nil:
		req.OrderID = uuid.New()
	}
	create.OrderID = req.OrderID
	req.Command = create
	return req, nil
}

// readBatch is how many events one ReadStream call asks for while loading an order.
const readBatch = 1000

// execution is one command's state across its attempts. The order and its recorded events are kept
// between attempts, so that a retry reads only the events appended since.
type execution struct {
	*Service
	req      Request
	stream   string
	ids      *eventIDs
	order    *domain.Order
	recorded []recorded
	decided  []domain.Event // by the last decide
	// cached: the order came from the cache, or is a create's presumed new order, and nothing has
	// been read since, so it may be stale.
	cached bool
	// unsure: after the append, order and recorded may not be the stream's fold, so the cache must
	// not keep them. The store tells the place of the last of several events only; and with an
	// idempotency key a success may be the store answering a replay (it matches event IDs before
	// versions): another execution with the same key appended since the read, and its events are in
	// the stream rather than the ones decided here.
	unsure bool
	// maybeApplied: an append was sent and neither confirmed nor refused, at version pendingAt; it
	// may still be written until the stream moves past that version without it.
	maybeApplied bool
	pendingAt    uint64
}

// attempt decides the command on the order as known and appends its events at the order's version.
//
// On the cached order it decides without reading: an append at the cached version proves the order
// current (a conflict reads and decides again), and events found among the cached ones are facts,
// stale or not. A refusal, though, may come from what the cached order does not know yet: it reads,
// and decides again.
func (x *execution) attempt(ctx context.Context) (Result, error) {
	cached := x.cached
	x.cached = false
	if !cached {
		if err := x.catchUp(ctx); err != nil {
			return Result{}, err
		}
	}
	res, data, err := x.decide()
	if err != nil && cached {
		if err := x.catchUp(ctx); err != nil {
			return Result{}, err
		}
		res, data, err = x.decide()
	}
	if err != nil || data == nil {
		return res, err
	}
	return x.append(ctx, res, data)
}

// decide checks the command against the order as known and returns the events to append. No events
// and no error: the command's events are in the stream already, and res answers with them.
func (x *execution) decide() (res Result, data []eventstore.EventData, err error) {
	if x.req.Authorize != nil {
		if err := x.req.Authorize(x.order); err != nil {
			return Result{}, nil, err
		}
	}
	_, creates := x.req.Command.(domain.CreateOrder)
	res = Result{OrderID: x.req.OrderID, Created: creates}
	// The command's events may be in the stream already: appended by an earlier request with the same
	// idempotency key, or by an earlier try of this one whose acknowledgement was lost. (Random IDs are
	// new to this execution, so on a first try this finds nothing.)
	if last, ok := x.applied(); ok {
		res.Version, res.Position = last.version, last.position
		return res, nil, nil
	}
	version := x.order.Version()
	if x.req.IfMatch != nil && *x.req.IfMatch != version {
		return Result{}, nil, &PreconditionError{Expected: *x.req.IfMatch, Current: version}
	}
	events, err := domain.Decide(x.order, x.req.Command, x.now())
	if err != nil {
		return Result{}, nil, fmt.Errorf("%s: %w", x.req.Command.CommandName(), err)
	}
	if data, err = x.encode(events); err != nil {
		return Result{}, nil, err
	}
	x.decided = events
	return res, data, nil
}

// append writes the decided events at the order's version and, on success, folds them into the order
// (for the cache).
func (x *execution) append(ctx context.Context, res Result, data []eventstore.EventData) (Result, error) {
	version := x.order.Version()
	ctx, cancel := context.WithTimeout(ctx, x.storeTimeout)
	defer cancel()
	ar, err := x.store.Append(ctx, x.stream, eventstore.Exact(version), data...)
	var conflict *eventstore.VersionConflictError
	if x.req.IfMatch != nil && errors.As(err, &conflict) {
		return Result{}, &PreconditionError{Expected: *x.req.IfMatch, Current: conflict.Actual}
	}
	if err != nil {
		if undetermined(err) {
			x.maybeApplied, x.pendingAt = true, version
		}
		return Result{}, err
	}
	if len(x.decided) == 1 && ar.Version == version+1 && x.req.IdempotencyKey == "" {
		x.order.Apply(x.decided[0])
		x.recorded = append(x.recorded, recorded{id: data[0].ID, version: ar.Version, position: ar.Position})
	} else {
		x.unsure = true
	}
	res.Version, res.Position = ar.Version, ar.Position
	return res, nil
}

// settle clears maybeApplied once the stream has moved past the version the unconfirmed append
// expected, without the command's events: the store can no longer write that append.
func (x *execution) settle() {
	if !x.maybeApplied || x.order.Version() <= x.pendingAt {
		return
	}
	if _, ok := x.applied(); !ok {
		x.maybeApplied = false
	}
}

// undetermined reports an append error that leaves open whether the store wrote the events: it lost
// the connection, or the call ran out of time, after the request may have been sent. An open breaker
// refuses before sending, a store that says nothing was sent is believed, and a conflict or a
// rejection is the store's answer.
func undetermined(err error) bool {
	if errors.Is(err, resilience.ErrCircuitOpen) || errors.Is(err, eventstore.ErrNotWritten) {
		return false
	}
	return errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled)
}

// catchUp reads the events appended to the stream since the last read and applies them.
func (x *execution) catchUp(ctx context.Context) error {
	for {
		batch, err := x.read(ctx, uint64(len(x.recorded))+1)
		if errors.Is(err, eventstore.ErrStreamNotFound) && len(x.recorded) == 0 {
			return nil // a new order
		}
		if err != nil {
			return err
		}
		for _, r := range batch {
			e, err := domain.UnmarshalEvent(r.Type, r.SchemaVersion, r.Data)
			if err != nil {
				return fmt.Errorf("load %s at version %d: %w", x.stream, r.Version, err)
			}
			x.order.Apply(e)
			x.recorded = append(x.recorded, recorded{id: r.ID, version: r.Version, position: r.Position})
		}
		if len(batch) < readBatch {
			x.settle()
			return nil
		}
	}
}

func (x *execution) read(ctx context.Context, from uint64) ([]eventstore.RecordedEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, x.storeTimeout)
	defer cancel()
	return x.store.ReadStream(ctx, x.stream, from, readBatch)
}

// applied looks for the events derived from the request's idempotency key and returns the last of
// them. A command's events are appended all or none and in one piece, so they are the run of
// consecutive events starting at the first derived ID.
func (x *execution) applied() (recorded, bool) {
	first := x.ids.id(0)
	for i, r := range x.recorded {
		if r.id != first {
			continue
		}
		last := i
		for last+1 < len(x.recorded) && x.recorded[last+1].id == x.ids.id(last+1-i) {
			last++
		}
		return x.recorded[last], true
	}
	return recorded{}, false
}

func (x *execution) encode(events []domain.Event) ([]eventstore.EventData, error) {
	md := x.req.Metadata
	md.Command = x.req.Command.CommandName()
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		typ, version, payload, err := domain.MarshalEvent(e)
		if err != nil {
			return nil, err
		}
		data[i] = eventstore.EventData{ID: x.ids.id(i), Type: typ, SchemaVersion: version, Data: payload, Metadata: md}
	}
	return data, nil
}
