package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/eventstore"
)

// AuditLog projects one row per order event into rm_audit_log: what happened to which order, when,
// by whom and through which command. It records events as stored and does not decode their payloads,
// so an event type newer than this release is logged rather than refused.
type AuditLog struct{}

func (AuditLog) Name() string       { return NameAuditLog }
func (AuditLog) SchemaVersion() int { return 1 }

func (AuditLog) Tables() []string { return []string{"rm_audit_log"} }

func (AuditLog) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE rm_audit_log`)
	return err
}

// Apply inserts a row per order event. The event ID is the key, so a replayed event changes nothing.
func (AuditLog) Apply(ctx context.Context, tx pgx.Tx, batch []eventstore.RecordedEvent) error {
	type auditRow struct {
		EventID       uuid.UUID `json:"event_id"`
		Position      string    `json:"position"`
		CommitPos     int64     `json:"commit_pos"`
		PreparePos    int64     `json:"prepare_pos"`
		OrderID       uuid.UUID `json:"order_id"`
		Version       int64     `json:"version"`
		Type          string    `json:"type"`
		Actor         string    `json:"actor"`
		CorrelationID *string   `json:"correlation_id"`
		CausationID   *string   `json:"causation_id"`
		Command       *string   `json:"command"`
		RecordedAt    time.Time `json:"recorded_at"`
	}
	rows := make([]auditRow, 0, len(batch))
	for i := range batch {
		e := &batch[i]
		order, ok, err := orderID(e.StreamID)
		if err != nil {
			return fmt.Errorf("event %s at %s: %w", e.ID, e.Position, err)
		}
		if !ok {
			continue
		}
		md := e.Metadata
		rows = append(rows, auditRow{e.ID, e.Position.String(), int64(e.Position.Commit), int64(e.Position.Prepare), order,
			int64(e.Version), e.Type, md.Actor, nonEmpty(md.CorrelationID), nonEmpty(md.CausationID), nonEmpty(md.Command),
			e.RecordedAt})
	}
	var b pgx.Batch
	if err := queueRows(&b, "rm_audit_log", `event_id, position, commit_pos, prepare_pos, order_id, version, type,
    actor, correlation_id, causation_id, command, recorded_at`, rows, `ON CONFLICT (event_id) DO NOTHING`); err != nil {
		return err
	}
	if err := sendBatch(ctx, tx, &b); err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	return nil
}
