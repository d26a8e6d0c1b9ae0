package readmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/eventstore"
)

// Channel is the PostgreSQL notification channel the projector notifies after each committed batch,
// in the batch's transaction, with the payload "<projection>:<position>".
const Channel = "projection_progress"

// positionReader reads checkpoints: *Store.
type positionReader interface {
	Checkpoint(ctx context.Context, projection string) (eventstore.Position, error)
	Checkpoints(ctx context.Context) (map[string]eventstore.Position, error)
}

// Broker lets requests wait until a projection has reached a position in the log. One Broker per
// process holds one connection that LISTENs on [Channel] and fans each notification out to the
// waiters of its projection. While it listens, waiting costs no query, however long it is: the
// Broker knows where each projection is from its last resync and the notifications since. Only a
// wait for a projection it does not know yet reads the checkpoint once, and a wait that times out
// reads it before it gives up.
//
// The alternatives lose: polling the checkpoint per waiting request multiplies queries by requests
// and still answers late by half the interval; a LISTEN connection per request would exhaust the
// server's connections under load.
//
// Notifications are only a wake-up call: when the connection is lost they are lost too, so after
// every (re)connection the Broker reads all checkpoints and wakes whoever they satisfy. A Broker is
// safe for concurrent use; Run must be running for waits to end before their bound.
type Broker struct {
	config    *pgx.ConnConfig
	positions positionReader
	log       *slog.Logger
	timeout   time.Duration // connecting, LISTEN, pings, the resync
	idle      time.Duration // without a notification for this long, ping the connection

	mu        sync.Mutex
	waiters   map[string]map[*waiter]struct{} // by projection
	listening bool
	// known is the furthest position of each projection that the last resync read or, since, a
	// notification or a wait's read at its bound brought. A checkpoint notifies each move in its
	// transaction and moves forward, but for a restore or a crash of the server (projections commit
	// asynchronously, so a crash can take back batches already notified): a restore ends every
	// connection, and so does a crash of the server process, but a crash of its host may leave this
	// one open until its next ping. Handlers therefore check what a read found against the position
	// asked for, rather than trust known alone.
	known map[string]eventstore.Position
	// epoch counts the times the Broker stopped listening: a read begun in one epoch must not feed
	// known in a later one, whose resync may have found the checkpoint moved back.
	epoch uint64
}

// waiter is one request waiting for a projection to reach want.
type waiter struct {
	want    eventstore.Position
	seen    eventstore.Position // the last position notified, guarded by Broker.mu
	reached chan struct{}       // closed once seen >= want
	blocked bool                // now waits for a notification, guarded by Broker.mu
}

// BrokerOptions tune a Broker. The zero value is usable.
type BrokerOptions struct {
	Logger *slog.Logger // nil discards
	// Timeout bounds connecting, LISTEN and pings (default 5 s).
	Timeout time.Duration
	// Idle is how long the connection may be silent before it is pinged, so that a connection that
	// died without a word (a half-open TCP connection) is noticed (default 30 s).
	Idle time.Duration
}

// NewBroker returns a Broker listening with its own connection to connString and reading
// checkpoints through positions (a *Store on the same database).
func NewBroker(connString string, positions positionReader, opts BrokerOptions) (*Broker, error) {
	config, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if _, ok := config.RuntimeParams["application_name"]; !ok {
		config.RuntimeParams["application_name"] = "orderflow-query-listener"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Idle <= 0 {
		opts.Idle = 30 * time.Second
	}
	return &Broker{
		config:    config,
		positions: positions,
		log:       opts.Logger,
		timeout:   opts.Timeout,
		idle:      opts.Idle,
		waiters:   make(map[string]map[*waiter]struct{}),
		known:     make(map[string]eventstore.Position),
	}, nil
}

// Wait returns once projection has reached want, with its position then. It waits at most patience:
// after that it returns an error wrapping ErrNotReached, with the last position it knows. It returns
// ctx's error when ctx ends first, and the Store's errors when a checkpoint read it needs fails.
func (b *Broker) Wait(ctx context.Context, projection string, want eventstore.Position, patience time.Duration) (eventstore.Position, error) {
	w := &waiter{want: want, reached: make(chan struct{})}
	pos, reached, known, epoch := b.register(projection, w)
	if reached {
		return pos, nil
	}
	defer b.remove(projection, w)

	// While the Broker listens, a projection it knows is exactly where the resync and the
	// notifications since put it, give or take a notification on its way: waiting for that costs
	// less than a query, which was the second of every GET with X-Min-Position. Otherwise read
	// the checkpoint, after registering, so that no progress falls between the two: a notification
	// sent after the registration wakes w; one sent before it is in the checkpoint read here.
	if !known {
		var err error
		if pos, err = b.positions.Checkpoint(ctx, projection); err != nil {
			return pos, err
		}
		if pos.Compare(want) >= 0 {
			return pos, nil
		}
	}
	b.block(w)

	timer := time.NewTimer(patience)
	defer timer.Stop()
	select {
	case <-w.reached:
		return b.seen(w), nil
	case <-timer.C:
		if seen := b.seen(w); seen.Compare(pos) > 0 {
			pos = seen
		}
		// One read before giving up, should a move of the checkpoint have gone unnotified; what it
		// finds is known from then on, to every wait.
		if known {
			read, err := b.positions.Checkpoint(ctx, projection)
			if err != nil {
				return pos, err
			}
			b.advanceIn(epoch, projection, read)
			if read.Compare(want) >= 0 {
				return read, nil
			}
			pos = read
		}
		return pos, fmt.Errorf("%w: %s is at %s after %v, want %s", ErrNotReached, projection, pos, patience, want)
	case <-ctx.Done():
		return pos, ctx.Err()
	}
}

// Ready reports whether the Broker is listening: while it is not, waits end only at their bound.
func (b *Broker) Ready(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.listening {
		return errors.New("not listening for projection progress")
	}
	return nil
}

// Waiting returns how many waits now wait for a notification: past their checkpoint read, when they
// needed one.
func (b *Broker) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, set := range b.waiters {
		for w := range set {
			if w.blocked {
				n++
			}
		}
	}
	return n
}

// Run listens until ctx ends, reconnecting with capped, jittered exponential backoff when the
// connection fails. It returns nil when ctx ends.
func (b *Broker) Run(ctx context.Context) error {
	const minDelay, maxDelay = 100 * time.Millisecond, 5 * time.Second
	delay := minDelay
	for {
		connected, err := b.listen(ctx)
		b.setListening(false)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			delay = minDelay
		}
		// Full jitter, so that replicas that lost the database together do not return in step.
		wait := time.Duration(rand.Int64N(int64(delay))) + time.Millisecond
		b.log.Warn("projection progress listener failed; reconnecting", "error", err.Error(), "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		delay = min(2*delay, maxDelay)
	}
}

// listen connects, LISTENs and dispatches notifications until the connection fails or ctx ends.
// connected reports whether it got as far as listening.
func (b *Broker) listen(ctx context.Context) (connected bool, err error) {
	setupCtx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(setupCtx, b.config)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(setupCtx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	if err := b.resync(setupCtx); err != nil {
		return false, err
	}
	b.setListening(true)
	b.log.Info("listening for projection progress", "channel", Channel)

	for {
		waitCtx, cancel := context.WithTimeout(ctx, b.idle)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			b.dispatch(n.Payload)
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Silence: make sure the connection is still alive. pgx keeps it open after a timeout.
			pingCtx, cancel := context.WithTimeout(ctx, b.timeout)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
		default:
			return true, fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// resync wakes the waiters whose projection reached their position while no connection listened.
// The checkpoints it reads replace the known positions rather than add to them: a checkpoint moves
// back after a restore of the database or a crash of the server (see known), and both end the
// connection, if only at the next ping.
func (b *Broker) resync(ctx context.Context) error {
	positions, err := b.positions.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	b.mu.Lock()
	clear(b.known)
	b.mu.Unlock()
	for name, pos := range positions {
		b.advance(name, pos)
	}
	return nil
}

// dispatch handles one notification's payload, "<projection>:<position>".
func (b *Broker) dispatch(payload string) {
	name, token, ok := strings.Cut(payload, ":")
	pos, err := eventstore.ParsePosition(token)
	if !ok || name == "" || err != nil {
		b.log.Warn("ignoring malformed projection progress notification", "payload", payload)
		return
	}
	b.advance(name, pos)
}

// register adds w to the waiters of projection unless the Broker, listening, knows that projection
// has reached w.want: then it reports reached, with the known position. known reports whether the
// Broker listens and knows where projection is (pos), which a caller may then trust instead of
// reading the checkpoint. Checking and adding under one lock leaves no gap for a notification.
func (b *Broker) register(projection string, w *waiter) (pos eventstore.Position, reached, known bool, epoch uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pos, known = b.known[projection]
	known = known && b.listening
	if known && pos.Compare(w.want) >= 0 {
		return pos, true, true, b.epoch
	}
	set := b.waiters[projection]
	if set == nil {
		set = make(map[*waiter]struct{})
		b.waiters[projection] = set
	}
	set[w] = struct{}{}
	return pos, false, known, b.epoch
}

// advance records that projection is at pos and wakes its waiters for positions up to pos.
func (b *Broker) advance(projection string, pos eventstore.Position) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceLocked(projection, pos)
}

// advanceIn is advance for a position read in epoch: it is dropped if the Broker has stopped
// listening since, for the resync after that knows better.
func (b *Broker) advanceIn(epoch uint64, projection string, pos eventstore.Position) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.epoch == epoch && b.listening {
		b.advanceLocked(projection, pos)
	}
}

func (b *Broker) advanceLocked(projection string, pos eventstore.Position) {
	if pos.Compare(b.known[projection]) > 0 {
		b.known[projection] = pos
	}
	for w := range b.waiters[projection] {
		w.seen = pos
		if pos.Compare(w.want) >= 0 {
			close(w.reached)
			delete(b.waiters[projection], w)
		}
	}
}

func (b *Broker) remove(projection string, w *waiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.waiters[projection], w)
	if len(b.waiters[projection]) == 0 {
		delete(b.waiters, projection)
	}
}

func (b *Broker) block(w *waiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w.blocked = true
}

func (b *Broker) seen(w *waiter) eventstore.Position {
	b.mu.Lock()
	defer b.mu.Unlock()
	return w.seen
}

func (b *Broker) setListening(v bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.listening && !v {
		b.epoch++
	}
	b.listening = v
}
