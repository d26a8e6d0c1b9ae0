package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/eventstore"
)

// What log tailers need beyond ReadAll: a prompt wake-up when events are appended, and a cheap count
// of the events they still have to read.

// AppendedChannel is the LISTEN/NOTIFY channel on which a [NotifyingStore] announces appends. It is
// durable: projectors of other releases listen to it.
const AppendedChannel = "eventstore_appended"

// DefaultNotifyInterval is the shortest time between two notifications of a NotifyingStore.
const DefaultNotifyInterval = 5 * time.Millisecond

// NotifyingStore is a Store whose successful appends are announced on [AppendedChannel]. Get one from
// [Store.EnableNotify].
//
// The NOTIFY is sent by a goroutine of its own, from its own connection, after the append has
// committed, and appends that come in while one is sent share the next one: at most one per interval,
// whatever the append rate. It is deliberately not part of the append statement. A transaction that
// has called NOTIFY takes a database-wide lock while it commits (to queue its notifications in commit
// order), so notifying from every append would serialize all appends in the cluster on that lock,
// which is exactly what the gap-free log was designed to avoid (see the package doc). The price is a
// few milliseconds of extra latency, and that a crash right after an append may lose its notification:
// listeners must poll as well, which they do anyway to see events of writers that do not notify.
//
// A notification means "the log may have grown": it carries no payload, and readers may not see the
// new events at once, because the log shows a transaction's events only once every older transaction
// has ended. Listeners retry briefly and then fall back to their poll.
type NotifyingStore struct {
	*Store
	kick chan struct{}
}

// NotifyOptions tune [Store.EnableNotify]. The zero value is usable.
type NotifyOptions struct {
	// Interval is the shortest time between two notifications (default DefaultNotifyInterval).
	Interval time.Duration
	// Logger receives failed notifications; nil discards them. A failure loses nothing but latency.
	Logger *slog.Logger
}

// EnableNotify returns s announcing its appends (see [NotifyingStore]) until ctx ends. AppendTx
// cannot know when the caller's transaction commits, so it does not notify: call Signal after the
// commit.
func (s *Store) EnableNotify(ctx context.Context, opts NotifyOptions) *NotifyingStore {
	if opts.Interval <= 0 {
		opts.Interval = DefaultNotifyInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	n := &NotifyingStore{Store: s, kick: make(chan struct{}, 1)}
	go n.notifyLoop(ctx, opts)
	return n
}

// Append implements eventstore.Appender and signals a notification when it succeeds.
func (n *NotifyingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	res, err := n.Store.Append(ctx, stream, expected, events...)
	if err == nil {
		n.Signal()
	}
	return res, err
}

// Signal asks for a notification soon. It never blocks.
func (n *NotifyingStore) Signal() {
	select {
	case n.kick <- struct{}{}:
	default: // one is pending already: it covers this append too
	}
}

func (n *NotifyingStore) notifyLoop(ctx context.Context, opts NotifyOptions) {
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
		}
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := n.pool.Exec(callCtx, `SELECT pg_notify($1, '')`, AppendedChannel)
		cancel()
		if err != nil && ctx.Err() == nil {
			opts.Logger.Warn("notify appended events", "channel", AppendedChannel, "error", err)
		}
		// Appends signalled meanwhile wait in kick and share the next notification.
		pause.Reset(opts.Interval)
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
	}
}

// Listen LISTENs on channel on a connection of its own and returns a channel that receives a value
// after notifications arrive. Values are coalesced, so a slow reader never holds the listener up,
// and one is also sent after every reconnect, because notifications sent while the connection was
// down are lost. When the connection breaks Listen reconnects, waiting from 100 ms up to 5 s between
// attempts, until ctx ends; then it closes the returned channel.
//
// The first connection is made before Listen returns, so a bad connString or an unreachable server
// fails here, with an error wrapping eventstore.ErrUnavailable for the latter.
func Listen(ctx context.Context, connString, channel string) (<-chan struct{}, error) {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	conn, err := listen(ctx, cfg, channel)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", channel, translate(err))
	}
	out := make(chan struct{}, 1)
	go listenLoop(ctx, cfg, channel, conn, out)
	return out, nil
}

func listen(ctx context.Context, cfg *pgx.ConnConfig, channel string) (*pgx.Conn, error) {
	connectCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(connectCtx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(connectCtx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

func listenLoop(ctx context.Context, cfg *pgx.ConnConfig, channel string, conn *pgx.Conn, out chan<- struct{}) {
	defer close(out)
	signal := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	const minWait, maxWait = 100 * time.Millisecond, 5 * time.Second
	wait := minWait
	for {
		for conn != nil {
			_, err := conn.WaitForNotification(ctx)
			if err != nil {
				closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				_ = conn.Close(closeCtx)
				cancel()
				conn = nil
				break
			}
			wait = minWait
			signal()
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
		var err error
		if conn, err = listen(ctx, cfg, channel); err == nil {
			signal() // whatever was announced while we were away
		} else if errors.Is(err, context.Canceled) {
			return
		}
	}
}
