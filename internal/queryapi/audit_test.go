package queryapi

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// auditRow is an rm_audit_log row to insert.
type auditRow struct {
	id      uuid.UUID
	order   uuid.UUID
	version int64
	typ     string
	actor   string
	at      time.Time
}

func (e *env) insertAudit(rows ...auditRow) {
	e.t.Helper()
	for i, r := range rows {
		e.exec(`INSERT INTO rm_audit_log (event_id, position, commit_pos, prepare_pos, order_id, version, type, actor,
	correlation_id, causation_id, command, recorded_at)
VALUES ($1, $2, $3, 0, $4, $5, $6, $7, 'corr', NULL, 'AddItem', $8)`,
			r.id, fmt.Sprintf("%d:0", i+1), i+1, r.order, r.version, r.typ, r.actor, r.at)
	}
}

type auditBody struct {
	Entries    []readmodel.AuditEntry `json:"entries"`
	NextCursor *string                `json:"next_cursor"`
}

func TestAuditLog(t *testing.T) {
	e := newEnv(t)
	e.checkpoint(readmodel.ProjectionAuditLog, "90:0", false)

	// 30 events of 3 orders by 2 actors, recorded in 10 instants: most share recorded_at with
	// others, so event_id breaks the ties.
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	orders := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	var all []auditRow
	for i := range 30 {
		r := auditRow{id: uuid.New(), order: orders[i%3], version: int64(i/3 + 1),
			typ: []string{"ItemAdded", "OrderPaid"}[i%2], actor: []string{"alice", "bob"}[i/15],
			at: base.Add(time.Duration(i/3) * time.Minute)}
		all = append(all, r)
	}
	e.insertAudit(all...)
	slices.SortFunc(all, func(a, b auditRow) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return strings.Compare(b.id.String(), a.id.String())
	})

	// list follows next_cursor through every page of query and returns the event IDs in order.
	list := func(t *testing.T, query string) []uuid.UUID {
		t.Helper()
		var ids []uuid.UUID
		path := "/audit?" + query
		for pages := 0; ; pages++ {
			if pages > 40 {
				t.Fatal("too many pages")
			}
			var got auditBody
			r := e.get(path)
			r.expect(t, 200, &got)
			if r.position() != "90:0" {
				t.Errorf("X-Projection-Position %q", r.position())
			}
			for _, en := range got.Entries {
				ids = append(ids, en.EventID)
			}
			if got.NextCursor == nil {
				return ids
			}
			path = "/audit?" + query + "&cursor=" + url.QueryEscape(*got.NextCursor)
		}
	}
	want := func(keep func(auditRow) bool) []uuid.UUID {
		var ids []uuid.UUID
		for _, r := range all {
			if keep(r) {
				ids = append(ids, r.id)
			}
		}
		return ids
	}
	t0, t5 := base.Add(2*time.Minute), base.Add(5*time.Minute)
	for _, tt := range []struct {
		query string
		keep  func(auditRow) bool
	}{
		{"limit=7", func(auditRow) bool { return true }},
		{"limit=1", func(auditRow) bool { return true }},
		{"limit=30", func(auditRow) bool { return true }},
		{"actor=bob&limit=4", func(r auditRow) bool { return r.actor == "bob" }},
		{"order_id=" + orders[1].String() + "&limit=3", func(r auditRow) bool { return r.order == orders[1] }},
		{"type=OrderPaid&limit=5", func(r auditRow) bool { return r.typ == "OrderPaid" }},
		{"from=" + t0.Format(time.RFC3339) + "&to=" + t5.Format(time.RFC3339) + "&limit=4",
			func(r auditRow) bool { return !r.at.Before(t0) && r.at.Before(t5) }},
		{"actor=alice&type=ItemAdded&order_id=" + orders[0].String() + "&from=" + t0.Format(time.RFC3339) + "&limit=2",
			func(r auditRow) bool {
				return r.actor == "alice" && r.typ == "ItemAdded" && r.order == orders[0] && !r.at.Before(t0)
			}},
		{"actor=nobody", func(auditRow) bool { return false }},
	} {
		if got, want := list(t, tt.query), want(tt.keep); !slices.Equal(got, want) {
			t.Errorf("%s: %d entries %v, want %d %v", tt.query, len(got), got, len(want), want)
		}
	}

	t.Run("an entry on the wire", func(t *testing.T) {
		var got auditBody
		e.get("/audit?limit=1").expect(t, 200, &got)
		en, top := got.Entries[0], all[0]
		if en.EventID != top.id || en.OrderID != top.order || en.Version != uint64(top.version) || en.Type != top.typ ||
			en.Actor != top.actor || *en.CorrelationID != "corr" || en.CausationID != nil || *en.Command != "AddItem" ||
			!en.RecordedAt.Equal(top.at) || got.NextCursor == nil {
			t.Errorf("%+v, want %+v", en, top)
		}
	})

	t.Run("waits for its projection", func(t *testing.T) {
		r := e.get("/audit", HeaderMinPosition, "91:0", HeaderMaxWait, "50")
		r.problem(t, 503, "projection-behind")
		if r.position() != "90:0" {
			t.Errorf("X-Projection-Position %q", r.position())
		}
		e.checkpoint(readmodel.ProjectionOrders, "95:0", true) // another projection's progress does not count
		e.get("/audit", HeaderMinPosition, "91:0", HeaderMaxWait, "50").problem(t, 503, "projection-behind")
	})

	t.Run("invalid", func(t *testing.T) {
		for query, fields := range map[string][]string{
			"actor=":                           {"actor"},
			"type=" + strings.Repeat("x", 129): {"type"},
			"order_id=42":                      {"order_id"},
			"from=today":                       {"from"},
			"to=2026-03-01":                    {"to"},
			"from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z": {"to"},
			"from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z": {"to"},
			"limit=0":                 {"limit"},
			"limit=501":               {"limit"},
			"cursor=abc":              {"cursor"},
			"actorr=alice":            {"actorr"},
			"actor=a&actor=b":         {"actor"},
			"min_position=x&limit=-1": {"limit", "min_position"},
		} {
			if got := e.get("/audit?"+query).problem(t, 400, "invalid-request"); !slices.Equal(got, fields) {
				t.Errorf("%s: fields %v, want %v", query, got, fields)
			}
		}
	})
}
