package idempotency

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Expired records are deleted in batches, each its own short statement, so that the cleaner never
// holds many row locks or one long transaction, and at most maxBatches per round, so that a huge
// backlog is worked off over several rounds instead of in one long burst.
const (
	cleanBatch = 1000
	maxBatches = 100
)

// DeleteExpired deletes records that have expired and returns how many it deleted. Replicas may run
// it at once: each skips the rows another is deleting.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	var total int64
	for range maxBatches {
		n, err := s.deleteBatch(ctx)
		total += n
		if err != nil {
			return total, err
		}
		if n < cleanBatch {
			break
		}
	}
	return total, nil
}

func (s *Store) deleteBatch(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `
DELETE FROM idempotency_keys WHERE key IN (
    SELECT key FROM idempotency_keys WHERE expires_at <= $1
    ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, s.now(), cleanBatch)
	if err != nil {
		return 0, fmt.Errorf("idempotency: delete expired: %w", translate(err))
	}
	return tag.RowsAffected(), nil
}

// Cleaner deletes expired records periodically.
type Cleaner struct {
	store *Store
	every time.Duration
	log   *slog.Logger
}

// NewCleaner returns a cleaner of store that runs every interval.
func NewCleaner(store *Store, every time.Duration, log *slog.Logger) *Cleaner {
	if log == nil {
		log = slog.Default()
	}
	return &Cleaner{store: store, every: every, log: log}
}

// Run cleans once right away and then every interval, until ctx ends; it returns nil then. Failures are
// logged and the next round tries again.
func (c *Cleaner) Run(ctx context.Context) error {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		n, err := c.store.DeleteExpired(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			c.log.WarnContext(ctx, "idempotency cleaner", "error", err)
		case n > 0:
			c.log.InfoContext(ctx, "idempotency cleaner deleted expired records", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
