package readmodel

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/eventstore"
)

// AuditEntry is one row of the audit log: who did what to which order, and when.
type AuditEntry struct {
	EventID       uuid.UUID           `json:"event_id"`
	OrderID       uuid.UUID           `json:"order_id"`
	Version       uint64              `json:"version"`
	Type          string              `json:"type"`
	Actor         string              `json:"actor"`
	Command       *string             `json:"command"`
	CorrelationID *string             `json:"correlation_id"`
	CausationID   *string             `json:"causation_id"`
	RecordedAt    time.Time           `json:"recorded_at"`
	Position      eventstore.Position `json:"position"`
}

// AuditKey is an entry's place in the audit list, which goes newest first by (recorded_at, event_id).
type AuditKey struct {
	RecordedAt time.Time
	EventID    uuid.UUID
}

// AuditFilter selects a page of the audit log. Zero fields do not filter; the filters given combine.
type AuditFilter struct {
	Actor   string
	OrderID uuid.UUID
	Type    string
	From    time.Time // recorded at or after
	To      time.Time // recorded before
	After   *AuditKey // the last entry of the previous page; nil for the first page
	Limit   int       // 1 to MaxAuditPerPage
}

// AuditPage is one page of the audit log.
type AuditPage struct {
	Entries []AuditEntry
	// More reports whether entries follow the last one of this page.
	More bool
}

// AuditLog returns a page of the audit log, newest first by (recorded_at, event_id), and the position
// of the audit_log projection it reflects.
//
// As in Orders, only the conditions given are written into the statement, so each filter's index
// serves it: (actor, recorded_at, event_id), (type, ...), (order_id, ...) or (recorded_at, event_id);
// the time range and the keyset condition are ranges on the same index. With two filters PostgreSQL
// picks the more selective index and checks the other condition on its rows.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) (AuditPage, eventstore.Position, error) {
	if f.Limit < 1 || f.Limit > MaxAuditPerPage {
		return AuditPage{}, eventstore.Position{}, fmt.Errorf("read audit log: limit %d is outside 1..%d", f.Limit, MaxAuditPerPage)
	}
	q, args := auditQuery(f)
	var page AuditPage
	pos, err := s.snapshot(ctx, ProjectionAuditLog, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		page.Entries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
			var (
				e       AuditEntry
				version int64
				pos     string
			)
			if err := r.Scan(&e.EventID, &e.OrderID, &version, &e.Type, &e.Actor, &e.Command, &e.CorrelationID,
				&e.CausationID, &e.RecordedAt, &pos); err != nil {
				return e, err
			}
			e.Version, e.RecordedAt = uint64(version), e.RecordedAt.UTC()
			var err error
			if e.Position, err = eventstore.ParsePosition(pos); err != nil {
				return e, fmt.Errorf("audit entry %s: %w", e.EventID, err)
			}
			return e, nil
		})
		return err
	})
	if err != nil {
		return AuditPage{}, eventstore.Position{}, fmt.Errorf("read audit log: %w", err)
	}
	if page.Entries == nil {
		page.Entries = []AuditEntry{}
	}
	if len(page.Entries) > f.Limit {
		page.Entries, page.More = page.Entries[:f.Limit], true
	}
	return page, pos, nil
}

// auditQuery builds AuditLog's statement for f.
func auditQuery(f AuditFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Actor != "" {
		where = append(where, "actor = "+arg(f.Actor))
	}
	if f.OrderID != uuid.Nil {
		where = append(where, "order_id = "+arg([16]byte(f.OrderID)))
	}
	if f.Type != "" {
		where = append(where, "type = "+arg(f.Type))
	}
	if !f.From.IsZero() {
		where = append(where, "recorded_at >= "+arg(f.From)+"::timestamptz")
	}
	if !f.To.IsZero() {
		where = append(where, "recorded_at < "+arg(f.To)+"::timestamptz")
	}
	if f.After != nil {
		where = append(where, "(recorded_at, event_id) < ("+arg(f.After.RecordedAt)+"::timestamptz, "+arg([16]byte(f.After.EventID))+"::uuid)")
	}
	q := `SELECT event_id, order_id, version, type, actor, command, correlation_id, causation_id, recorded_at, position
FROM rm_audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY recorded_at DESC, event_id DESC LIMIT " + arg(f.Limit+1)
	return q, args
}
