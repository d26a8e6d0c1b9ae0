package ordergen

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/command"
)

// Copier is what Preload writes with: a pool or a connection.
type Copier interface {
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Preload COPies n events of random order histories (see History), or the few more that complete
// the last order, the first order starting at start and each next one a second later, into the
// events table of the PostgreSQL event store in db's database, then analyzes the table, and returns
// how many events it wrote. Appending that many
// one by one would take minutes; COPY takes seconds. Rows are generated as COPY asks for them, so the
// load holds one order in memory at a time, however large n is.
//
// It bypasses the store and writes its table directly, all as one transaction as far as the log is
// concerned (tx_id 1, below any real transaction's ID): use it on a fresh event store, with the
// event-store migrations applied, before any append.
func Preload(ctx context.Context, db Copier, rng *rand.Rand, n int, start time.Time) (int64, error) {
	meta, err := json.Marshal(eventstore.Metadata{Actor: "preload", Command: "Preload"})
	if err != nil {
		return 0, err
	}
	src := &historySource{rng: rng, left: n, at: start, meta: string(meta)}
	copied, err := db.CopyFrom(ctx, pgx.Identifier{"events"},
		[]string{"tx_id", "event_id", "stream_id", "version", "type", "schema_version", "data", "metadata", "recorded_at"}, src)
	if err != nil {
		return copied, fmt.Errorf("preload events: %w", err)
	}
	if _, err := db.Exec(ctx, `ANALYZE events`); err != nil {
		return copied, fmt.Errorf("analyze events: %w", err)
	}
	return copied, nil
}

// historySource is a pgx.CopyFromSource of random order histories.
type historySource struct {
	rng     *rand.Rand
	left    int
	at      time.Time // of the current order
	meta    string
	pending []domain.Event
	stream  string
	version int
	row     []any
	err     error
}

func (s *historySource) Next() bool {
	if len(s.pending) == 0 {
		if s.left <= 0 {
			return false
		}
		id := uuid.New()
		s.pending = History(s.rng, id, fmt.Sprint("c", s.rng.IntN(10_000)), []string{"EUR", "USD"}[s.rng.IntN(2)], s.at)
		s.stream, s.version = command.StreamName(id), 0
		s.at = s.at.Add(time.Second)
	}
	typ, schemaVersion, data, err := domain.MarshalEvent(s.pending[0])
	if err != nil {
		s.err = err
		return false
	}
	s.pending = s.pending[1:]
	s.version++
	s.left--
	// uuid.UUID as [16]byte: pgx writes it in binary rather than through its text form, which for a
	// driver.Valuer costs a failed binary encode that formats an error, for every row.
	s.row = []any{int64(1), [16]byte(uuid.New()), s.stream, int64(s.version), typ, int32(schemaVersion), string(data), s.meta, s.at}
	return true
}

func (s *historySource) Values() ([]any, error) { return s.row, nil }
func (s *historySource) Err() error             { return s.err }
