package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/postgres"
)

// groupedAppend is one append of a group-commit test and what it must get.
type groupedAppend struct {
	stream   string
	expected eventstore.ExpectedVersion
	id       uuid.UUID // uuid.Nil: a new one
	data     string    // "": a valid payload

	wantVersion  uint64 // 0: an error is expected
	wantErr      error
	wantGrouped  bool // written by the batch's own transaction
	wantConflict uint64
}

func TestGroupCommit(t *testing.T) {
	seeded := uuid.New()
	tests := []struct {
		name    string
		seed    map[string]int // stream -> events appended before the batch
		appends []groupedAppend
	}{
		{
			name: "appends to distinct streams share one transaction",
			appends: []groupedAppend{
				{stream: "a", expected: eventstore.NoStream(), wantVersion: 1, wantGrouped: true},
				{stream: "b", expected: eventstore.Any(), wantVersion: 1, wantGrouped: true},
				{stream: "c", expected: eventstore.NoStream(), wantVersion: 1, wantGrouped: true},
				{stream: "d", expected: eventstore.NoStream(), wantVersion: 1, wantGrouped: true},
			},
		},
		{
			name: "each append keeps its own expectation",
			seed: map[string]int{"c": 1, "d": 1, "e": 2},
			appends: []groupedAppend{
				{stream: "a", expected: eventstore.NoStream(), wantVersion: 1, wantGrouped: true},
				{stream: "b", expected: eventstore.Exact(5), wantErr: eventstore.ErrWrongExpectedVersion, wantConflict: 0},
				{stream: "c", expected: eventstore.StreamExists(), wantVersion: 2, wantGrouped: true},
				{stream: "d", expected: eventstore.NoStream(), wantErr: eventstore.ErrWrongExpectedVersion, wantConflict: 1},
				{stream: "e", expected: eventstore.Exact(2), wantVersion: 3, wantGrouped: true},
			},
		},
		{
			name: "two appends to one stream go in turn",
			appends: []groupedAppend{
				{stream: "a", expected: eventstore.NoStream(), wantVersion: 1, wantGrouped: true},
				{stream: "b", expected: eventstore.NoStream(), wantVersion: 1, wantGrouped: true},
				{stream: "a", expected: eventstore.Exact(1), wantVersion: 2},
			},
		},
		{
			name: "a row the server refuses fails alone",
			appends: []groupedAppend{
				{stream: "a", expected: eventstore.NoStream(), wantVersion: 1},
				{stream: "b", expected: eventstore.NoStream(), data: `{"s":"\u0000"}`},
				{stream: "c", expected: eventstore.NoStream(), wantVersion: 1},
			},
		},
		{
			name: "an event ID already recorded",
			seed: map[string]int{"seeded": 1},
			appends: []groupedAppend{
				{stream: "a", expected: eventstore.NoStream(), wantVersion: 1},
				{stream: "b", expected: eventstore.NoStream(), id: seeded, wantErr: eventstore.ErrDuplicateEventID},
				{stream: "seeded", expected: eventstore.NoStream(), id: seeded, wantVersion: 1}, // a retry: the first result
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t, time.Minute)
			_, pool := newStore(t)
			s, err := postgres.Open(ctx, pool, postgres.GroupCommit(1))
			if err != nil {
				t.Fatal(err)
			}
			for stream, n := range tt.seed {
				for i := range n {
					id := uuid.New()
					if stream == "seeded" {
						id = seeded
					}
					if _, err := s.Append(ctx, stream, eventstore.Exact(uint64(i)), event(id, `{}`)); err != nil {
						t.Fatalf("seed %s: %v", stream, err)
					}
				}
			}

			// Given every slot busy, when the appends queue up and the slot comes free, then the
			// queue is written together.
			queued, release := postgres.HoldGroupCommit(s)
			type outcome struct {
				res eventstore.AppendResult
				err error
			}
			results := make([]chan outcome, len(tt.appends))
			for i, a := range tt.appends {
				results[i] = make(chan outcome, 1)
				id, data := a.id, a.data
				if id == uuid.Nil {
					id = uuid.New()
				}
				if data == "" {
					data = `{"n":1}`
				}
				go func() {
					res, err := s.Append(ctx, a.stream, a.expected, event(id, data))
					results[i] <- outcome{res, err}
				}()
				// One at a time, so that the queue's order is the table's.
				for queued() != i+1 {
					time.Sleep(time.Millisecond)
				}
			}
			release()

			var batchTx []uint64
			for i, a := range tt.appends {
				got := <-results[i]
				switch {
				case a.wantVersion == 0 && got.err == nil:
					t.Errorf("append %d to %s: got version %d, want an error", i, a.stream, got.res.Version)
				case a.wantVersion == 0 && a.wantErr != nil && !errors.Is(got.err, a.wantErr):
					t.Errorf("append %d to %s: got %v, want %v", i, a.stream, got.err, a.wantErr)
				case a.wantVersion != 0 && got.err != nil:
					t.Errorf("append %d to %s: %v", i, a.stream, got.err)
				case a.wantVersion != 0 && got.res.Version != a.wantVersion:
					t.Errorf("append %d to %s: version %d, want %d", i, a.stream, got.res.Version, a.wantVersion)
				}
				var conflict *eventstore.VersionConflictError
				if errors.As(got.err, &conflict) && conflict.Actual != a.wantConflict {
					t.Errorf("append %d to %s: conflict at version %d, want %d", i, a.stream, conflict.Actual, a.wantConflict)
				}
				if a.wantGrouped {
					batchTx = append(batchTx, got.res.Position.Commit)
				}
			}
			for _, tx := range batchTx {
				if tx != batchTx[0] {
					t.Errorf("grouped appends were written by transactions %v, want one", batchTx)
					break
				}
			}
		})
	}
}

// TestGroupCommitCancelWhileQueued: an append whose context ends while it waits for a slot writes
// nothing.
func TestGroupCommitCancelWhileQueued(t *testing.T) {
	ctx := testContext(t, time.Minute)
	_, pool := newStore(t)
	s, err := postgres.Open(ctx, pool, postgres.GroupCommit(1))
	if err != nil {
		t.Fatal(err)
	}
	queued, release := postgres.HoldGroupCommit(s)
	appendCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(appendCtx, "gone", eventstore.NoStream(), event(uuid.New(), `{}`))
		done <- err
	}()
	for queued() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, eventstore.ErrNotWritten) {
		t.Errorf("append: %v, want context.Canceled and ErrNotWritten", err)
	}
	if n := queued(); n != 0 {
		t.Errorf("%d appends still queued, want 0", n)
	}
	release()
	if _, err := s.ReadStream(ctx, "gone", 0, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Errorf("read the cancelled append's stream: %v, want ErrStreamNotFound", err)
	}
	// The slot is free again: the next append runs at once.
	if _, err := s.Append(ctx, "next", eventstore.NoStream(), event(uuid.New(), `{}`)); err != nil {
		t.Fatal(err)
	}
}

// TestGroupedAppendWithoutConnection: a grouped batch that gets no connection from the pool sent
// nothing, and each of its appends says so. The pool is closed while the appends queue.
func TestGroupedAppendWithoutConnection(t *testing.T) {
	ctx := testContext(t, time.Minute)
	_, big := newStore(t)
	pool, err := pgxpool.NewWithConfig(ctx, big.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := postgres.Open(ctx, pool, postgres.GroupCommit(1))
	if err != nil {
		t.Fatal(err)
	}
	queued, release := postgres.HoldGroupCommit(s)
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := s.Append(ctx, fmt.Sprintf("unsent-%d-%s", i, uuid.NewString()), eventstore.NoStream(), event(uuid.New(), `{}`))
			errs <- err
		}()
	}
	for queued() != 2 {
		time.Sleep(time.Millisecond)
	}
	pool.Close()
	release() // the two are written as one batch, which finds the pool closed
	for range 2 {
		if err := <-errs; !errors.Is(err, eventstore.ErrNotWritten) || !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("append of a batch without a connection: %v, want ErrNotWritten and ErrUnavailable", err)
		}
	}
}

func event(id uuid.UUID, data string) eventstore.EventData {
	return eventstore.EventData{ID: id, Type: "Tested", SchemaVersion: 1, Data: []byte(data)}
}

// TestGroupCommitUsesGenericPlan: a grouped append runs on its statement's generic plan, not on one
// made for each group (see groupCommit.insert); that plan finds each stream's version through the
// (stream_id, version) index; and the setting does not outlive the append.
func TestGroupCommitUsesGenericPlan(t *testing.T) {
	ctx := testContext(t, time.Minute)
	pool := oneConnection(t)
	s, err := postgres.Open(ctx, pool, postgres.GroupCommit(1))
	if err != nil {
		t.Fatal(err)
	}
	modeBefore := planCacheMode(t, pool)
	// Ten groups of three appends each: held until all three queue, then written as one statement.
	for round := range 10 {
		queued, release := postgres.HoldGroupCommit(s)
		errs := make(chan error, 3)
		for i := range 3 {
			go func() {
				_, err := s.Append(ctx, fmt.Sprintf("grouped-%d-%d", round, i), eventstore.NoStream(), event(uuid.New(), `{}`))
				errs <- err
			}()
		}
		for queued() != 3 {
			if ctx.Err() != nil {
				t.Fatalf("round %d: %d appends queued, want 3", round, queued())
			}
			time.Sleep(time.Millisecond)
		}
		release()
		for range 3 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	if generic, custom := planCounts(t, pool, postgres.GroupSQL); custom != 0 || generic != 10 {
		t.Errorf("grouped append: %d calls on the generic plan, %d on custom plans, of 10; want 10 and 0", generic, custom)
	}
	if mode := planCacheMode(t, pool); mode != modeBefore {
		t.Errorf("plan_cache_mode after a grouped append: %q, want %q as before (the setting leaked)", mode, modeBefore)
	}
	plan := explainGeneric(t, pool, postgres.GroupSQL,
		`'{s}', '{00000000-0000-0000-0000-000000000001}', '{T}', '{1}', '{"{}"}', '{"{}"}', '{1}', '{0}'`)
	if !strings.Contains(plan, "events_stream_version_key") || strings.Contains(plan, "Seq Scan on events ") {
		t.Errorf("generic plan of the grouped append:\n%swant the stream's version from events_stream_version_key, no scan of the log", plan)
	}
}
