package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Report is a projection as the database records it, for `projector status`: its live copy as its
// owner last wrote it, and its rebuild, if one is in progress.
type Report struct {
	Name          string     `json:"name"`
	State         string     `json:"state"` // "unknown" before the owner's first status write
	SchemaVersion int        `json:"schema_version"`
	Generation    int        `json:"generation"`
	Position      string     `json:"position"`
	HeadPosition  *string    `json:"head_position"`
	LagEvents     *int64     `json:"lag_events"`
	LagSeconds    *float64   `json:"lag_seconds"`
	Owner         *string    `json:"owner"`
	LastError     *string    `json:"last_error"`
	UpdatedAt     *time.Time `json:"updated_at"`
	RebuiltAt     *time.Time `json:"rebuilt_at"`
	// RebuildEvents and RebuildSeconds describe the last rebuild: the events it read and the time
	// from its start to its switch.
	RebuildEvents  *int64         `json:"rebuild_events"`
	RebuildSeconds *float64       `json:"rebuild_seconds"`
	Rebuild        *RebuildReport `json:"rebuild"`
}

// RebuildReport is a rebuild in progress.
type RebuildReport struct {
	SchemaVersion int       `json:"schema_version"`
	Generation    int       `json:"generation"`
	KeepOld       bool      `json:"keep_old"`
	RequestedBy   string    `json:"requested_by"`
	Builder       *string   `json:"builder"` // nil until a process takes it on
	Position      string    `json:"position"`
	Events        int64     `json:"events"`
	EventsTotal   *int64    `json:"events_total"` // events in the log when it started; nil when unknown
	LagEvents     *int64    `json:"lag_events"`
	LastError     *string   `json:"last_error"`
	StartedAt     time.Time `json:"started_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Reports returns every projection with a checkpoint, a status or a rebuild, by name.
func Reports(ctx context.Context, db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) ([]Report, error) {
	rows, err := db.Query(ctx, `SELECT coalesce(c.name, s.name, r.name), coalesce(s.state, 'unknown'),
    coalesce(c.schema_version, s.schema_version, 0), coalesce(c.generation, 0), coalesce(c.position, '0:0'),
    s.head_position, s.lag_events, s.lag_seconds, s.owner, s.last_error, greatest(c.updated_at, s.updated_at),
    c.rebuilt_at, c.rebuild_events, c.rebuild_seconds, r.name IS NOT NULL, r.schema_version, r.generation, r.keep_old, r.requested_by, r.builder,
    r.position, r.events, r.events_total, r.lag_events, r.last_error, r.started_at, r.updated_at
FROM projection_checkpoints c
FULL JOIN projection_status s ON s.name = c.name
FULL JOIN projection_rebuilds r ON r.name = coalesce(c.name, s.name)
ORDER BY 1 LIMIT 1000`)
	if err != nil {
		return nil, fmt.Errorf("read projections: %w", err)
	}
	reports, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Report, error) {
		var (
			p          Report
			rb         RebuildReport
			rebuilding bool
			rbVersion  *int
			rbGen      *int
			rbKeep     *bool
			rbBy, rbAt *string
			rbEvents   *int64
			rbStarted  *time.Time
			rbUpdated  *time.Time
		)
		err := row.Scan(&p.Name, &p.State, &p.SchemaVersion, &p.Generation, &p.Position, &p.HeadPosition,
			&p.LagEvents, &p.LagSeconds, &p.Owner, &p.LastError, &p.UpdatedAt, &p.RebuiltAt, &p.RebuildEvents, &p.RebuildSeconds, &rebuilding,
			&rbVersion, &rbGen, &rbKeep, &rbBy, &rb.Builder, &rbAt, &rbEvents, &rb.EventsTotal, &rb.LagEvents,
			&rb.LastError, &rbStarted, &rbUpdated)
		if err != nil || !rebuilding {
			return p, err
		}
		rb.SchemaVersion, rb.Generation, rb.KeepOld = *rbVersion, *rbGen, *rbKeep
		rb.RequestedBy, rb.Position, rb.Events = *rbBy, *rbAt, *rbEvents
		rb.StartedAt, rb.UpdatedAt = *rbStarted, *rbUpdated
		p.Rebuild = &rb
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read projections: %w", err)
	}
	return reports, nil
}
