// Package idempotency records the first outcome of each idempotency key in PostgreSQL and replays it to
// repeats of the same request, so that a client can retry a command safely: after a timeout, a lost
// response or a restart of the service, and even while the first request is still running.
//
// The records live in the table idempotency_keys of the command-side migration set
// (migrations.Commands). With authentication, keys are scoped per client (see [Scoped]).
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	// ErrKeyReused: the key was first used with a different request.
	ErrKeyReused = errors.New("idempotency key reused with a different request")
	// ErrInProgress: a request with the same key was still running when the wait for it ended.
	ErrInProgress = errors.New("a request with this idempotency key is still in progress")
	// ErrInvalidKey: the key is not 1 to 255 printable ASCII characters.
	ErrInvalidKey = errors.New("idempotency key must be 1 to 255 printable ASCII characters")
	// ErrUnavailable: the database could not be reached; retrying later may succeed.
	ErrUnavailable = errors.New("idempotency store unavailable")
)

// MaxKeyLength is the longest key accepted.
const MaxKeyLength = 255

// CheckKey returns ErrInvalidKey unless key is 1 to MaxKeyLength printable ASCII characters.
func CheckKey(key string) error {
	if len(key) < 1 || len(key) > MaxKeyLength {
		return fmt.Errorf("%w: got %d characters", ErrInvalidKey, len(key))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return fmt.Errorf("%w: byte %d is %#x", ErrInvalidKey, i, key[i])
		}
	}
	return nil
}

// MaxScopedKeyLength is the longest key Store.Do accepts: a client's key with its scope (see Scoped).
const MaxScopedKeyLength = 400

// Scoped returns key within scope (a token's subject, at most 128 characters) as
// "<len(scope)>:<scope>:<key>": the length makes it unambiguous, so no two (scope, key) pairs give the
// same string. The format is durable: the command side derives order and event IDs from it.
func Scoped(scope, key string) string {
	return strconv.Itoa(len(scope)) + ":" + scope + ":" + key
}

// RequestHash identifies a request for the purpose of "same key, same request": its method, its path
// with the parameters filled in, its If-Match and its body. Each part is length-prefixed, so that no
// two different requests hash the same bytes.
func RequestHash(method, path, ifMatch string, body []byte) []byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(method), []byte(path), []byte(ifMatch), body} {
		_ = binary.Write(h, binary.BigEndian, uint64(len(part))) // a hash.Hash never fails to write
		h.Write(part)
	}
	return h.Sum(nil)
}

// Response is a recorded outcome.
type Response struct {
	Status int
	// Header holds the response headers to replay, such as Content-Type, Location and ETag.
	Header map[string]string
	Body   []byte
}

// Options tune a Store. Zero fields take the defaults.
type Options struct {
	// TTL is how long a record is replayed (default 24 h).
	TTL time.Duration
	// Timeout bounds each statement other than the wait for a key's lock (default 5 s).
	Timeout time.Duration
	// Now is the clock that stamps and expires records (default time.Now).
	Now func() time.Time
	// Logger gets a line when an outcome could not be recorded (default slog.Default()).
	Logger *slog.Logger
}

// Store keeps idempotency records. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger
}

// New returns a store on pool, whose database must have the command-side migrations applied.
//
// Each Do holds one of the pool's connections while its request runs, so size the pool for the number
// of requests with a key that may run at once. Do not share the pool with what run itself uses: with
// every connection held by a waiting Do, run could never get one.
func New(pool *pgxpool.Pool, opts Options) *Store {
	s := &Store{pool: pool, ttl: opts.TTL, timeout: opts.Timeout, now: opts.Now, log: opts.Logger}
	if s.ttl <= 0 {
		s.ttl = 24 * time.Hour
	}
	if s.timeout <= 0 {
		s.timeout = 5 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Do runs a request under key, once.
//
// The first request with a key calls run and, if run says to keep its outcome, records it. Repeats of
// the same request (same requestHash) get the recorded Response with replayed true, without calling
// run, until the record expires; a different request gets ErrKeyReused. A repeat that arrives while
// the first is running waits for it (as long as ctx allows, else ErrInProgress) and then replays.
//
// run should not keep outcomes that a retry could change, such as a server error. If the outcome
// cannot be recorded, Do logs that and still returns it: the caller's work is done, and a repeat will
// run it again.
//
// How: Do opens a transaction and takes a transaction-level advisory lock on the key, which serializes
// requests with the same key across every replica and is released by the commit. Neither the lock nor
// the lookup gives the transaction an ID; only the final INSERT does, just before the commit. That
// matters because the PostgreSQL event store's readers wait for every transaction with an ID that is
// older than their snapshot: a transaction that held an ID while its command ran would stall every
// projection for that long. (A SELECT ... FOR UPDATE on a placeholder row would take an ID up front.)
func (s *Store) Do(ctx context.Context, key string, requestHash []byte, run func(ctx context.Context) (resp Response, keep bool)) (resp Response, replayed bool, err error) {
	if len(key) < 1 || len(key) > MaxScopedKeyLength {
		return Response{}, false, fmt.Errorf("%w: got %d characters with its scope", ErrInvalidKey, len(key))
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return Response{}, false, err
	}
	defer func() {
		// After a commit this is a no-op. Not on ctx: it may have ended, and the connection must be
		// released either way.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()

	if err := s.lock(ctx, tx, key); err != nil {
		return Response{}, false, err
	}
	rec, found, err := s.lookup(ctx, tx, key)
	if err != nil {
		return Response{}, false, err
	}
	if found {
		if !bytes.Equal(rec.hash, requestHash) {
			return Response{}, false, ErrKeyReused
		}
		return rec.resp, true, nil
	}

	resp, keep := run(ctx)
	if keep {
		if err := s.record(ctx, tx, key, requestHash, resp); err != nil {
			s.log.WarnContext(ctx, "idempotency record not saved; a repeat will run the request again",
				"error", err)
		}
	}
	return resp, false, nil
}

// beginAttempts is how many times begin tries to open the transaction.
const beginAttempts = 3

// begin opens the transaction. Nothing has happened yet, so a failure to reach the database is tried
// again, briefly: after a restart of PostgreSQL, the pool's first attempts may meet broken
// connections, and a client should not get a 503 for what the next attempt fixes.
func (s *Store) begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := backoff.Retry(ctx, func() (pgx.Tx, error) {
		ctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		tx, err := s.pool.Begin(ctx)
		if err != nil && !transient(err) {
			return nil, backoff.Permanent(err)
		}
		return tx, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     50 * time.Millisecond,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         time.Second,
		}),
		backoff.WithMaxTries(beginAttempts),
		backoff.WithMaxElapsedTime(0), // ctx's deadline bounds the whole
	)
	if err != nil {
		return nil, fmt.Errorf("idempotency: begin: %w", translate(err))
	}
	return tx, nil
}

// lock waits for the key's advisory lock for as long as ctx allows. hashtextextended maps the key to
// the lock's 64-bit ID; two keys that collide only share a lock, which costs a wait, never a wrong
// answer.
func (s *Store) lock(ctx context.Context, tx pgx.Tx, key string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*s.timeout)
		defer cancel()
	}
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("idempotency: wait for key: %w: %w", ErrInProgress, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("idempotency: lock key: %w", translate(err))
	}
	return nil
}

type record struct {
	hash []byte
	resp Response
}

func (s *Store) lookup(ctx context.Context, tx pgx.Tx, key string) (record, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var rec record
	err := tx.QueryRow(ctx, `
SELECT request_hash, status, body, headers FROM idempotency_keys WHERE key = $1 AND expires_at > $2`,
		key, s.now()).Scan(&rec.hash, &rec.resp.Status, &rec.resp.Body, &rec.resp.Header)
	if errors.Is(err, pgx.ErrNoRows) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, fmt.Errorf("idempotency: look up key: %w", translate(err))
	}
	return rec, true, nil
}

// record saves resp and commits. An expired record of the same key, not yet deleted, is replaced.
func (s *Store) record(ctx context.Context, tx pgx.Tx, key string, hash []byte, resp Response) error {
	// The outcome must be kept even if the request's ctx ended while run was finishing.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	header := resp.Header
	if header == nil {
		header = map[string]string{}
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	now := s.now()
	_, err := tx.Exec(ctx, `
INSERT INTO idempotency_keys (key, request_hash, status, body, headers, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (key) DO UPDATE SET
    request_hash = excluded.request_hash, status = excluded.status, body = excluded.body,
    headers = excluded.headers, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		key, hash, resp.Status, body, header, now, now.Add(s.ttl))
	if err != nil {
		return fmt.Errorf("idempotency: record: %w", translate(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("idempotency: commit: %w", translate(err))
	}
	return nil
}

// translate marks failures to reach the database as ErrUnavailable, keeping the original in the chain.
func translate(err error) error {
	if err == nil || !transient(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// transient reports errors that say "the database cannot be reached now", as the event store's
// PostgreSQL adapter counts them.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "53", "57":
			return pgErr.Code != "57014" // query_canceled is ours
		case "40":
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}
