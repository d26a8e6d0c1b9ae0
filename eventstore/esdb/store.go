package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	neturl "net/url"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"

	"github.com/orderflow/orderflow/eventstore"
)

// DefaultTimeout bounds a call whose ctx has no deadline.
const DefaultTimeout = 10 * time.Second

// Store is an eventstore.Store on EventStoreDB. It is safe for concurrent
// use.
type Store struct {
	conn    *conn
	prefix  string
	timeout time.Duration
}

var _ eventstore.Store = (*Store)(nil)

// An Option configures a Store.
type Option func(*settings)

type settings struct {
	prefix  string
	timeout time.Duration
	logger  *slog.Logger
}

// WithStreamPrefix gives the store a view of its own on a shared server:
// it stores stream s as prefix+s, and ReadAll and Head see only streams
// under prefix. It is for tests, which share one server; production uses
// no prefix and sees every stream that is not a system stream. The prefix
// must not start with "$", which marks system streams.
func WithStreamPrefix(prefix string) Option {
	if isSystemName(prefix) {
		panic(fmt.Sprintf("esdb: stream prefix %q starts with $, which EventStoreDB reserves", prefix))
	}
	return func(s *settings) { s.prefix = prefix }
}

// WithTimeout sets the deadline of calls whose ctx has none (default
// DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(s *settings) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithLogger sends the client's own log lines (discovery, reconnects) to l.
// Only Open uses it; without it they are discarded, since every failure
// also reaches the caller as an error.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.logger = l }
}

func settingsOf(opts []Option) settings {
	s := settings{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&s)
	}
	return s
}

// New returns a store on client. The caller keeps owning client: Close
// leaves it open, and the store cannot replace it if it stops trying to
// reach the server (see Open).
func New(client *esdb.Client, opts ...Option) *Store {
	set := settingsOf(opts)
	return &Store{conn: &conn{client: client}, prefix: set.prefix, timeout: set.timeout}
}

// Open connects to the server at url, a connection string with the scheme
// kurrentdb://, kurrentdb+discover://, esdb:// or esdb+discover://, such as
// "kurrentdb://admin:changeit@localhost:2113?tls=false". It returns
// eventstore.ErrUnavailable if the server cannot be reached within ctx's
// deadline, or the store's timeout if ctx has none.
//
// The store owns its client: Close closes it, and the store replaces it
// when the client gives up on an unreachable server, so that calls succeed
// again once the server is back.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	set := settingsOf(opts)
	normalized, err := normalizeURL(url)
	if err != nil {
		return nil, fmt.Errorf("esdb: open: %w", err)
	}
	config, err := esdb.ParseConnectionString(normalized)
	if err != nil {
		// url.Error repeats the whole string, password included.
		if urlErr := (*neturl.Error)(nil); errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("esdb: open: connection string: %w", err)
	}
	config.Logger = clientLogger(set.logger)
	client, err := esdb.NewClient(config)
	if err != nil {
		return nil, fmt.Errorf("esdb: open: %w", err)
	}
	s := &Store{conn: &conn{config: config, client: client}, prefix: set.prefix, timeout: set.timeout}

	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	_, err = run(ctx, s.conn, func(_ context.Context, c *esdb.Client) (struct{}, error) {
		_, err := c.GetServerVersion() // connects, or fails after the configured discovery attempts
		return struct{}{}, err
	})
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("esdb: open: %w", classify(ctx, err))
	}
	return s, nil
}

func clientLogger(l *slog.Logger) esdb.LoggingFunc {
	if l == nil {
		return esdb.NoopLogging()
	}
	return func(level esdb.LogLevel, format string, args ...any) {
		lvl := slog.LevelInfo
		switch level {
		case esdb.LogDebug:
			lvl = slog.LevelDebug
		case esdb.LogWarn:
			lvl = slog.LevelWarn
		case esdb.LogError:
			lvl = slog.LevelError
		}
		l.Log(context.Background(), lvl, fmt.Sprintf(format, args...), "component", "esdb-client")
	}
}

// Close closes the client if Open made it; call it once the store is no
// longer used. Later calls return ErrClosed.
func (s *Store) Close() error { return s.conn.close() }

func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.timeout)
}

// fail translates err (see classify) and says what failed. A version
// conflict already says so.
func (s *Store) fail(ctx context.Context, err error, format string, args ...any) error {
	if s.conn.isClosed() && !isOurs(err) {
		err = ErrClosed
	}
	err = classify(ctx, err)
	var conflict *eventstore.VersionConflictError
	if errors.As(err, &conflict) {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// Append implements eventstore.Appender.
//
// Idempotency is EventStoreDB's own. For NoStream and Exact, the server
// compares the IDs with the events right after the expected version: all
// equal is a retry and succeeds with the original revision and position;
// the first different is a version conflict. For Any and StreamExists it
// looks the IDs up in a cache of recent writes, which makes retries
// idempotent as long as the cache holds them.
//
// ESDB does not index event IDs beyond that: this backend never returns
// eventstore.ErrDuplicateEventID. IDs already used in another stream, or
// earlier in this stream, are written again if the expectation holds at the
// stream's end.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.Validate(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	data, err := proposed(s.prefix+stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	res, err := run(ctx, s.conn, func(ctx context.Context, c *esdb.Client) (eventstore.AppendResult, error) {
		return s.appendTo(ctx, c, stream, expected, data)
	})
	if err != nil {
		return eventstore.AppendResult{}, s.fail(ctx, err, "append %d events to %s at %s", len(events), stream, expected)
	}
	return res, nil
}

func (s *Store) appendTo(ctx context.Context, c *esdb.Client, stream string, expected eventstore.ExpectedVersion, events []esdb.EventData) (eventstore.AppendResult, error) {
	name := s.prefix + stream
	opts := esdb.AppendToStreamOptions{ExpectedRevision: expectedRevision(expected)}
	if deadline, ok := ctx.Deadline(); ok {
		// Otherwise the client cuts appends at its own default, 10s,
		// whatever deadline the caller gave.
		d := time.Until(deadline)
		opts.Deadline = &d
	}
	wr, err := c.AppendToStream(ctx, name, opts, events...)
	if err != nil {
		if code, _ := codeOf(err); code == esdb.ErrorCodeWrongExpectedVersion {
			// The client puts the actual revision in the error's text
			// only: read it back instead.
			actual, err := lastVersion(ctx, c, name)
			if err != nil {
				return eventstore.AppendResult{}, fmt.Errorf("wrong expected version; reading the actual version: %w", err)
			}
			return eventstore.AppendResult{}, &eventstore.VersionConflictError{Stream: stream, Expected: expected, Actual: actual}
		}
		if grpcCode(err) == codes.InvalidArgument {
			return eventstore.AppendResult{}, fmt.Errorf("%w: refused by the server before writing (larger than its MaxAppendSize?): %v", eventstore.ErrInvalidEvent, err)
		}
		return eventstore.AppendResult{}, err
	}

	// On success the server reports the revision and the position of the
	// last event, the original ones for an idempotent retry. It has no
	// position when it could not read the original event back (and older
	// servers never had one for retries); the client then reports 0:0.
	res := eventstore.AppendResult{
		Version:  versionOf(wr.NextExpectedVersion),
		Position: eventstore.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition},
	}
	if res.Position.IsZero() {
		pos, err := positionAt(ctx, c, name, wr.NextExpectedVersion)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("appended; reading the position back: %w", err)
		}
		res.Position = pos
	}
	return res, nil
}

// lastVersion returns the version of stream's last event, 0 if it has
// none.
func lastVersion(ctx context.Context, c *esdb.Client, stream string) (uint64, error) {
	var version uint64
	_, err := readEach(func() (*esdb.ReadStream, error) {
		return c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	}, func(e *esdb.RecordedEvent) bool {
		version = versionOf(e.EventNumber)
		return false
	})
	if code, _ := codeOf(err); code == esdb.ErrorCodeResourceNotFound {
		return 0, nil
	}
	return version, err
}

// positionAt returns the position of the event at revision of stream.
func positionAt(ctx context.Context, c *esdb.Client, stream string, revision uint64) (eventstore.Position, error) {
	var pos eventstore.Position
	found := false
	_, err := readEach(func() (*esdb.ReadStream, error) {
		return c.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Revision(revision)}, 1)
	}, func(e *esdb.RecordedEvent) bool {
		pos, found = positionOf(e.Position), true
		return false
	})
	if err == nil && !found {
		err = fmt.Errorf("no event at revision %d of %s", revision, stream)
	}
	return pos, err
}

// ReadStream implements eventstore.StreamReader. A stream that was deleted
// is ErrStreamNotFound, and ErrStreamDeleted if it was tombstoned. A max
// below 1 returns no events.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	if stream == "" {
		return nil, fmt.Errorf("%w: empty stream name", eventstore.ErrInvalidEvent)
	}
	if max < 1 {
		return nil, nil
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	name := s.prefix + stream
	out, err := run(ctx, s.conn, func(ctx context.Context, c *esdb.Client) ([]eventstore.RecordedEvent, error) {
		var out []eventstore.RecordedEvent
		_, err := readEach(func() (*esdb.ReadStream, error) {
			return c.ReadStream(ctx, name, esdb.ReadStreamOptions{From: streamFrom(from)}, uint64(max))
		}, func(e *esdb.RecordedEvent) bool {
			out = append(out, recorded(s.prefix, e))
			return true
		})
		return out, err
	})
	if err != nil {
		err = s.fail(ctx, err, "read %s from %d", stream, from)
		if errors.Is(err, ErrStreamDeleted) {
			err = fmt.Errorf("%w: %w", eventstore.ErrStreamNotFound, err)
		}
		return nil, err
	}
	return out, nil
}

// ReadAll implements eventstore.LogReader. It reads $all and leaves out
// system events and, with WithStreamPrefix, other views' streams.
//
// Client v4.2.0 has no server-side filter for reads of $all (only for
// subscriptions), so the filter runs here: ReadAll reads pages until it
// has max events or reaches the end of the log. Reading past many
// invisible events costs time, not correctness; in production they are
// only the server's own, few next to ours.
func (s *Store) ReadAll(ctx context.Context, from eventstore.Position, max int) ([]eventstore.RecordedEvent, error) {
	if max < 1 {
		return nil, nil
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	out, err := run(ctx, s.conn, func(ctx context.Context, c *esdb.Client) ([]eventstore.RecordedEvent, error) {
		return s.scanForward(ctx, c, from, max)
	})
	if err != nil {
		return nil, s.fail(ctx, err, "read all after %s", from)
	}
	return out, nil
}

func (s *Store) scanForward(ctx context.Context, c *esdb.Client, from eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	page := pageSize(limit)
	seen := from // every event up to here has been looked at
	for {
		n, err := readEach(func() (*esdb.ReadStream, error) {
			return c.ReadAll(ctx, esdb.ReadAllOptions{From: allFrom(seen)}, page)
		}, func(e *esdb.RecordedEvent) bool {
			pos := positionOf(e.Position)
			if !after(pos, seen) { // the page starts at seen itself
				return true
			}
			seen = pos
			if visible(s.prefix, e.StreamID, e.EventType) {
				out = append(out, recorded(s.prefix, e))
			}
			return len(out) < limit
		})
		if err != nil || len(out) == limit || uint64(n) < page {
			return out, err
		}
	}
}

// pageSize is how many events of $all to ask for at once: enough for limit
// events after the one at from, within bounds. Reading stops as soon as
// limit events are in, so a large page costs little.
func pageSize(limit int) uint64 {
	return uint64(min(max(limit+1, 64), 4096))
}

// Head implements eventstore.LogReader: the position of the last event
// ReadAll can return, found by reading $all backwards past system events
// (and other views' streams).
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	head, err := run(ctx, s.conn, func(ctx context.Context, c *esdb.Client) (eventstore.Position, error) {
		return s.scanBackward(ctx, c)
	})
	if err != nil {
		return eventstore.Position{}, s.fail(ctx, err, "head of the log")
	}
	return head, nil
}

const headPage = 256

func (s *Store) scanBackward(ctx context.Context, c *esdb.Client) (eventstore.Position, error) {
	var start esdb.AllPosition = esdb.End{}
	var seen eventstore.Position // lowest position looked at so far
	started := false
	for {
		var head eventstore.Position
		found := false
		n, err := readEach(func() (*esdb.ReadStream, error) {
			return c.ReadAll(ctx, esdb.ReadAllOptions{From: start, Direction: esdb.Backwards}, headPage)
		}, func(e *esdb.RecordedEvent) bool {
			pos := positionOf(e.Position)
			if started && pos.Compare(seen) >= 0 { // in case the page starts at seen itself
				return true
			}
			seen, started = pos, true
			if visible(s.prefix, e.StreamID, e.EventType) {
				head, found = pos, true
				return false
			}
			return true
		})
		if err != nil || found || n < headPage {
			return head, err
		}
		start = esdb.Position{Commit: seen.Commit, Prepare: seen.Prepare}
	}
}

// readEach opens a read and passes its events to visit until visit returns
// false or the read ends. It returns how many events it passed. A missing
// stream surfaces here, at the first Recv, not when the read is opened.
func readEach(open func() (*esdb.ReadStream, error), visit func(*esdb.RecordedEvent) bool) (int, error) {
	rs, err := open()
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	n := 0
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		e := ev.OriginalEvent() // links are not resolved: this is the record itself
		if e == nil {
			continue
		}
		n++
		if !visit(e) {
			return n, nil
		}
	}
}
