package projections

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// Ownership. Each projection is run by one process at a time: the one holding a PostgreSQL
// session-level advisory lock on a connection of its own, outside the pool, so that the lock lives
// exactly as long as that connection. When the owner dies, the server ends its session and releases
// the lock; the other processes try every LockRetry and one of them takes over.
//
// A leader lease in a table (owner, expires_at, renewed by the owner) was the alternative: it needs no
// dedicated connection, but a dead owner is only replaced when its lease expires, and the lease has to
// be long enough to survive pauses, so take-overs are slow. The lock is released by the server itself.
//
// The lock alone cannot rule out two owners for a moment: a process whose connection broke may still
// be committing a batch when another takes over. The owner therefore checks its lock connection every
// LockCheck and stops at once when it fails, and every batch moves the checkpoint only from where it
// expects it (worker.commit), which makes a double apply impossible even then.

// lockClass is the first key of every projection lock. PostgreSQL keeps the two-int4 key space of
// advisory locks apart from the bigint one that migrations (goose) lock in, so they cannot collide.
// Durable, like lockKey: processes of different releases must agree on both.
const lockClass int32 = 0x70726f6a // "proj"

// lockKey returns the advisory lock keys of the projection called name.
func lockKey(name string) (int32, int32) {
	return lockClass, int32(crc32.ChecksumIEEE([]byte(name)))
}

var (
	// errLockLost: the connection holding the projection's lock broke, so another process may own it.
	errLockLost = errors.New("projection lock lost")
	// errFenced: the checkpoint moved under this process, which therefore no longer owns the
	// projection.
	errFenced = errors.New("checkpoint moved by another process")
)

// acquire returns a connection that holds the projection's lock, trying every LockRetry until it gets
// it or ctx ends.
func (w *worker) acquire(ctx context.Context) (*pgx.Conn, error) {
	class, object := lockKey(w.name)
	var conn *pgx.Conn
	for {
		if conn == nil {
			var err error
			if conn, err = w.connectLock(ctx); err != nil && ctx.Err() == nil {
				w.log.WarnContext(ctx, "connect for the projection lock", "error", err)
			}
		}
		if conn != nil {
			callCtx, cancel := context.WithTimeout(ctx, callTimeout)
			var got bool
			err := conn.QueryRow(callCtx, `SELECT pg_try_advisory_lock($1, $2)`, class, object).Scan(&got)
			cancel()
			switch {
			case err != nil:
				w.closeLock(ctx, conn)
				conn = nil
				if ctx.Err() == nil {
					w.log.WarnContext(ctx, "try the projection lock", "error", err)
				}
			case got:
				return conn, nil
			}
		}
		if !sleep(ctx, jitter(w.cfg.LockRetry)) {
			if conn != nil {
				w.closeLock(ctx, conn)
			}
			return nil, ctx.Err()
		}
	}
}

func (w *worker) connectLock(ctx context.Context) (*pgx.Conn, error) {
	cfg := w.cfg.DB.Config().ConnConfig.Copy()
	// So that pg_stat_activity tells which session holds which projection.
	cfg.RuntimeParams["application_name"] = "projector lock " + w.name
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return pgx.ConnectConfig(callCtx, cfg)
}

func (w *worker) closeLock(ctx context.Context, conn *pgx.Conn) {
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	_ = conn.Close(closeCtx)
}

// watchLock pings the lock's connection every interval and cancels ctx with errLockLost as soon as a
// ping fails: from then on another process may own the projection.
func watchLock(ctx context.Context, conn *pgx.Conn, every time.Duration, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pingCtx, cancelPing := context.WithTimeout(ctx, max(every, 2*time.Second))
		err := conn.Ping(pingCtx)
		cancelPing()
		if err != nil && ctx.Err() == nil {
			cancel(fmt.Errorf("%w: %v", errLockLost, err))
			return
		}
	}
}

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter returns d ± 25%, so that processes started together do not retry in step.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}

// backoff is the wait after the n-th failure in a row: from 100 ms, doubling up to ceiling, with
// jitter between half and all of it.
func backoff(n int, ceiling time.Duration) time.Duration {
	d := min(100*time.Millisecond<<min(n-1, 20), ceiling)
	return d/2 + rand.N(d/2+1)
}
