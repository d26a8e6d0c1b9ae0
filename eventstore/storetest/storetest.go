// Package storetest is the conformance suite of the event store: the
// contract of eventstore.Store stated once, as tests, and run by every
// backend's own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) eventstore.Store { return newStore(t) })
//	}
//
// It is an ordinary package, not a _test file, so that every backend can
// import it. Each subtest asks newStore for a store of its own; the suite
// also names its streams uniquely, so a backend may hand out views of one
// shared server as long as ReadAll and Head of one view see only that
// view's streams.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
)

// Run runs the whole suite.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s eventstore.Store)
	}{
		{"AppendAndReadBack", testAppendAndReadBack},
		{"ExpectedVersions", testExpectedVersions},
		{"ConflictCarriesActualVersion", testConflictCarriesActualVersion},
		{"IdempotentReappend", testIdempotentReappend},
		{"InvalidAppendsWriteNothing", testInvalidAppends},
		{"AtomicMultiEventAppend", testAtomicMultiEventAppend},
		{"ReadStreamFromVersion", testReadStreamFromVersion},
		{"StreamNotFound", testStreamNotFound},
		{"GlobalOrder", testGlobalOrder},
		{"ReadAllInBatches", testReadAllInBatches},
		{"HeadOfEmptyAndFilledLog", testHead},
		{"LargePayloads", testLargePayloads},
		{"ConcurrentAppendsOneWinnerPerVersion", testOneWinnerPerVersion},
		{"ConcurrentAppendsWithRetryAllLand", testConcurrentRetriesAllLand},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// streamName gives every stream of a run its own name, so that a shared
// server keeps tests apart.
func streamName(kind string) string {
	return kind + "-" + uuid.NewString()
}

func event(typ string, data string) eventstore.EventData {
	return eventstore.EventData{
		ID:            uuid.New(),
		Type:          typ,
		SchemaVersion: 1,
		Data:          json.RawMessage(data),
		Metadata: eventstore.Metadata{
			CorrelationID: "corr-" + typ,
			CausationID:   "cause-" + typ,
			Actor:         "tester",
			Command:       "Test" + typ,
			TraceParent:   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			TraceState:    "vendor=1",
		},
	}
}

func events(n int, typ string) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = event(typ, fmt.Sprintf(`{"n":%d,"typ":%q}`, i+1, typ))
	}
	return out
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctxFor(t), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s at %s: %v", len(evs), stream, exp, err)
	}
	return res
}

func readStream(t *testing.T, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	var all []eventstore.RecordedEvent
	from := uint64(1)
	for {
		batch, err := s.ReadStream(ctxFor(t), stream, from, 100)
		if err != nil {
			t.Fatalf("read stream %s from %d: %v", stream, from, err)
		}
		all = append(all, batch...)
		if len(batch) < 100 {
			return all
		}
		from = batch[len(batch)-1].Version + 1
	}
}

// waitVisible waits until the log's head has reached pos. The contract
// promises that an appended event reaches log readers, not that it does so
// at once: a backend may hold the log back while older writes are still in
// flight (PostgreSQL does, while any transaction that started before the
// append is open).
func waitVisible(t *testing.T, s eventstore.Store, pos eventstore.Position) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		head, err := s.Head(ctxFor(t))
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		if head.Compare(pos) >= 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log head is still at %s, 30 s after an append at %s", head, pos)
		}
		time.Sleep(delay)
	}
}

// readAll reads the whole log after from in batches of size batch.
func readAll(t *testing.T, s eventstore.Store, from eventstore.Position, batch int) []eventstore.RecordedEvent {
	t.Helper()
	var all []eventstore.RecordedEvent
	for {
		got, err := s.ReadAll(ctxFor(t), from, batch)
		if err != nil {
			t.Fatalf("read all after %s: %v", from, err)
		}
		if len(got) > batch {
			t.Fatalf("read all asked for %d events, got %d", batch, len(got))
		}
		all = append(all, got...)
		if len(got) < batch {
			return all
		}
		from = got[len(got)-1].Position
	}
}

func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored data is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("appended data is not JSON: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}

func testAppendAndReadBack(t *testing.T, s eventstore.Store) {
	stream := streamName("order")
	in := events(3, "ItemAdded")
	in[1].SchemaVersion = 2
	// Metadata that differs from one event to the next in a page: none at all, then only part.
	in[1].Metadata = eventstore.Metadata{}
	in[2].Metadata = eventstore.Metadata{Actor: "someone-else"}
	before := time.Now()
	res := mustAppend(t, s, stream, eventstore.NoStream(), in...)
	if res.Version != 3 {
		t.Errorf("version after append = %d, want 3", res.Version)
	}

	got := readStream(t, s, stream)
	if len(got) != len(in) {
		t.Fatalf("read %d events, want %d", len(got), len(in))
	}
	for i, e := range got {
		want := in[i]
		if e.ID != want.ID || e.Type != want.Type || e.SchemaVersion != want.SchemaVersion || e.StreamID != stream {
			t.Errorf("event %d = {%s %s v%d %s}, want {%s %s v%d %s}", i, e.ID, e.Type, e.SchemaVersion, e.StreamID, want.ID, want.Type, want.SchemaVersion, stream)
		}
		if e.Version != uint64(i+1) {
			t.Errorf("event %d has version %d, want %d", i, e.Version, i+1)
		}
		if !jsonEqual(t, e.Data, want.Data) {
			t.Errorf("event %d data = %s, want %s", i, e.Data, want.Data)
		}
		if e.Metadata != want.Metadata {
			t.Errorf("event %d metadata = %+v, want %+v", i, e.Metadata, want.Metadata)
		}
		if e.RecordedAt.Before(before.Add(-time.Minute)) || e.RecordedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("event %d recorded at %s, want about %s", i, e.RecordedAt, before)
		}
		if i > 0 && e.Position.Compare(got[i-1].Position) <= 0 {
			t.Errorf("event %d position %s is not after %s", i, e.Position, got[i-1].Position)
		}
		if p, err := eventstore.ParsePosition(e.Position.String()); err != nil || p != e.Position {
			t.Errorf("position %s does not survive its string form: %v, %v", e.Position, p, err)
		}
	}
	if res.Position != got[2].Position {
		t.Errorf("append reported position %s, last event is at %s", res.Position, got[2].Position)
	}
}

func testExpectedVersions(t *testing.T, s eventstore.Store) {
	// Each case runs on its own stream: either missing or at version 2.
	tests := []struct {
		name     string
		existing int
		expected eventstore.ExpectedVersion
		wantErr  bool
	}{
		{"any on missing stream", 0, eventstore.Any(), false},
		{"any on existing stream", 2, eventstore.Any(), false},
		{"no stream on missing stream", 0, eventstore.NoStream(), false},
		{"no stream on existing stream", 2, eventstore.NoStream(), true},
		{"stream exists on missing stream", 0, eventstore.StreamExists(), true},
		{"stream exists on existing stream", 2, eventstore.StreamExists(), false},
		{"exact version matches", 2, eventstore.Exact(2), false},
		{"exact version behind", 2, eventstore.Exact(1), true},
		{"exact version ahead", 2, eventstore.Exact(3), true},
		{"exact version on missing stream", 0, eventstore.Exact(1), true},
		{"exact zero is no stream", 0, eventstore.Exact(0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := streamName("expect")
			if tc.existing > 0 {
				mustAppend(t, s, stream, eventstore.NoStream(), events(tc.existing, "Seed")...)
			}
			res, err := s.Append(ctxFor(t), stream, tc.expected, event("Next", `{}`))
			if tc.wantErr {
				if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
					t.Fatalf("append at %s to a stream at %d: err = %v, want ErrWrongExpectedVersion", tc.expected, tc.existing, err)
				}
				if n := len(readStreamOrNone(t, s, stream)); n != tc.existing {
					t.Fatalf("refused append left %d events, want %d", n, tc.existing)
				}
				return
			}
			if err != nil {
				t.Fatalf("append at %s to a stream at %d: %v", tc.expected, tc.existing, err)
			}
			if res.Version != uint64(tc.existing+1) {
				t.Fatalf("version = %d, want %d", res.Version, tc.existing+1)
			}
		})
	}
}

func readStreamOrNone(t *testing.T, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	got, err := s.ReadStream(ctxFor(t), stream, 1, 1000)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return got
}

func testConflictCarriesActualVersion(t *testing.T, s eventstore.Store) {
	stream := streamName("conflict")
	mustAppend(t, s, stream, eventstore.NoStream(), events(4, "Seed")...)

	_, err := s.Append(ctxFor(t), stream, eventstore.Exact(2), event("Late", `{}`))
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("err = %v (%T), want a *VersionConflictError", err, err)
	}
	if conflict.Actual != 4 {
		t.Errorf("actual version = %d, want 4", conflict.Actual)
	}
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Errorf("errors.Is(err, ErrWrongExpectedVersion) = false for %v", err)
	}

	_, err = s.Append(ctxFor(t), streamName("missing"), eventstore.StreamExists(), event("Late", `{}`))
	if !errors.As(err, &conflict) || conflict.Actual != 0 {
		t.Errorf("append expecting an existing stream to a missing one: err = %v, want conflict with actual 0", err)
	}
}

func testIdempotentReappend(t *testing.T, s eventstore.Store) {
	stream := streamName("idem")
	batch := events(2, "Added")
	first := mustAppend(t, s, stream, eventstore.NoStream(), batch...)

	again := mustAppend(t, s, stream, eventstore.NoStream(), batch...)
	if again != first {
		t.Errorf("re-append returned %+v, want the original %+v", again, first)
	}
	next := event("More", `{}`)
	more := mustAppend(t, s, stream, eventstore.Exact(2), next)

	// A retry that arrives after later writes still finds its events.
	again = mustAppend(t, s, stream, eventstore.NoStream(), batch...)
	if again != first {
		t.Errorf("late re-append returned %+v, want the original %+v", again, first)
	}
	if again = mustAppend(t, s, stream, eventstore.Exact(2), next); again != more {
		t.Errorf("re-append of a single event returned %+v, want the original %+v", again, more)
	}
	if got := readStream(t, s, stream); len(got) != 3 {
		t.Fatalf("stream holds %d events after re-appends, want 3", len(got))
	}

	// The same IDs at another expectation are not a retry. (Re-appending
	// them exactly at the stream's end is left out: EventStoreDB only
	// compares IDs behind the end, and writes them again there.)
	if _, err := s.Append(ctxFor(t), stream, eventstore.Exact(1), batch...); err == nil {
		t.Fatal("re-append of old events at a new version succeeded, want an error")
	}
	if got := readStream(t, s, stream); len(got) != 3 {
		t.Fatalf("stream holds %d events after a refused re-append, want 3", len(got))
	}
}

func testInvalidAppends(t *testing.T, s eventstore.Store) {
	stream := streamName("invalid")
	dup := event("Dup", `{}`)
	noID := event("NoID", `{}`)
	noID.ID = uuid.Nil
	noType := event("", `{}`)
	badJSON := event("Bad", `{"unclosed":`)
	tests := []struct {
		name   string
		stream string
		events []eventstore.EventData
	}{
		{"empty stream name", "", events(1, "X")},
		{"no events", stream, nil},
		{"event without ID", stream, []eventstore.EventData{event("A", `{}`), noID}},
		{"event without type", stream, []eventstore.EventData{noType}},
		{"data that is not JSON", stream, []eventstore.EventData{event("A", `{}`), badJSON}},
		{"same ID twice in one append", stream, []eventstore.EventData{dup, dup}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(ctxFor(t), tc.stream, eventstore.Any(), tc.events...)
			if !errors.Is(err, eventstore.ErrInvalidEvent) {
				t.Fatalf("err = %v, want ErrInvalidEvent", err)
			}
		})
	}
	if got := readStreamOrNone(t, s, stream); len(got) != 0 {
		t.Fatalf("invalid appends wrote %d events", len(got))
	}
}

// testAtomicMultiEventAppend checks that the events of one append are
// written together, contiguous in their stream and in the log, even when
// appends to one stream race.
func testAtomicMultiEventAppend(t *testing.T, s eventstore.Store) {
	stream := streamName("atomic")
	const writers, perAppend = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := events(perAppend, fmt.Sprintf("W%d", w))
			_, err := s.Append(ctxFor(t), stream, eventstore.Any(), evs...)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("append with any version: %v", err)
		}
	}
	got := readStream(t, s, stream)
	if len(got) != writers*perAppend {
		t.Fatalf("stream holds %d events, want %d", len(got), writers*perAppend)
	}
	for i := 0; i < len(got); i += perAppend {
		for j := i; j < i+perAppend; j++ {
			if got[j].Type != got[i].Type {
				t.Fatalf("events of one append are interleaved: version %d is %s, version %d is %s", got[i].Version, got[i].Type, got[j].Version, got[j].Type)
			}
		}
	}

	// A refused multi-event append writes none of its events.
	_, err := s.Append(ctxFor(t), stream, eventstore.Exact(1), events(3, "Refused")...)
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("err = %v, want ErrWrongExpectedVersion", err)
	}
	if n := len(readStream(t, s, stream)); n != writers*perAppend {
		t.Fatalf("refused append changed the stream to %d events", n)
	}
}

func testReadStreamFromVersion(t *testing.T, s eventstore.Store) {
	stream := streamName("from")
	mustAppend(t, s, stream, eventstore.NoStream(), events(10, "E")...)
	tests := []struct {
		from      uint64
		max       int
		wantFirst uint64
		wantLen   int
	}{
		{0, 100, 1, 10},
		{1, 100, 1, 10},
		{4, 3, 4, 3},
		{10, 5, 10, 1},
		{11, 5, 0, 0},
		{500, 5, 0, 0},
	}
	for _, tc := range tests {
		got, err := s.ReadStream(ctxFor(t), stream, tc.from, tc.max)
		if err != nil {
			t.Fatalf("read from %d max %d: %v", tc.from, tc.max, err)
		}
		if len(got) != tc.wantLen {
			t.Fatalf("read from %d max %d: %d events, want %d", tc.from, tc.max, len(got), tc.wantLen)
		}
		for i, e := range got {
			if e.Version != tc.wantFirst+uint64(i) {
				t.Fatalf("read from %d: event %d has version %d, want %d", tc.from, i, e.Version, tc.wantFirst+uint64(i))
			}
		}
	}
}

func testStreamNotFound(t *testing.T, s eventstore.Store) {
	_, err := s.ReadStream(ctxFor(t), streamName("never-written"), 1, 10)
	if !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("read of a missing stream: err = %v, want ErrStreamNotFound", err)
	}
}

func testGlobalOrder(t *testing.T, s eventstore.Store) {
	start, err := s.Head(ctxFor(t))
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	a, b := streamName("a"), streamName("b")
	var want []uuid.UUID
	var last eventstore.Position
	for i := range 5 {
		stream := a
		if i%2 == 1 {
			stream = b
		}
		evs := events(2, fmt.Sprintf("G%d", i))
		last = mustAppend(t, s, stream, eventstore.Any(), evs...).Position
		want = append(want, evs[0].ID, evs[1].ID)
	}
	waitVisible(t, s, last)
	got := readAll(t, s, start, 1000)
	if len(got) != len(want) {
		t.Fatalf("log after %s holds %d events, want %d", start, len(got), len(want))
	}
	for i, e := range got {
		if e.ID != want[i] {
			t.Fatalf("log event %d is %s, want %s", i, e.ID, want[i])
		}
		if i > 0 && e.Position.Compare(got[i-1].Position) <= 0 {
			t.Fatalf("log positions not increasing: %s then %s", got[i-1].Position, e.Position)
		}
	}

	// Reading strictly after any event's position returns exactly the rest.
	for i := range got {
		rest := readAll(t, s, got[i].Position, 1000)
		if len(rest) != len(got)-i-1 {
			t.Fatalf("read after event %d: %d events, want %d", i, len(rest), len(got)-i-1)
		}
		if len(rest) > 0 && rest[0].ID != got[i+1].ID {
			t.Fatalf("read after event %d starts at %s, want %s", i, rest[0].ID, got[i+1].ID)
		}
	}

	// The log and the streams agree on every event.
	byID := map[uuid.UUID]eventstore.RecordedEvent{}
	for _, e := range got {
		byID[e.ID] = e
	}
	for _, stream := range []string{a, b} {
		for _, e := range readStream(t, s, stream) {
			l, ok := byID[e.ID]
			if !ok || l.StreamID != e.StreamID || l.Version != e.Version || l.Position != e.Position || !strings.EqualFold(l.Type, e.Type) {
				t.Fatalf("stream %s event %d disagrees with the log: %+v vs %+v", stream, e.Version, e, l)
			}
		}
	}
}

func testReadAllInBatches(t *testing.T, s eventstore.Store) {
	start, err := s.Head(ctxFor(t))
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	var last eventstore.Position
	for i := range 7 {
		last = mustAppend(t, s, streamName("batch"), eventstore.NoStream(), events(i+1, "B")...).Position
	}
	waitVisible(t, s, last)
	whole := readAll(t, s, start, 1000)
	for _, size := range []int{1, 3, 28} {
		got := readAll(t, s, start, size)
		if len(got) != len(whole) {
			t.Fatalf("batches of %d read %d events, one read %d", size, len(got), len(whole))
		}
		for i := range got {
			if got[i].ID != whole[i].ID {
				t.Fatalf("batches of %d: event %d differs", size, i)
			}
		}
	}
	if len(whole) != 28 {
		t.Fatalf("log holds %d new events, want 28", len(whole))
	}
}

func testHead(t *testing.T, s eventstore.Store) {
	before, err := s.Head(ctxFor(t))
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if got := readAll(t, s, before, 10); len(got) != 0 {
		t.Fatalf("%d events after the head %s", len(got), before)
	}
	res := mustAppend(t, s, streamName("head"), eventstore.NoStream(), events(3, "H")...)
	waitVisible(t, s, res.Position)
	head, err := s.Head(ctxFor(t))
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if head != res.Position {
		t.Fatalf("head = %s, want the last append's position %s", head, res.Position)
	}
	if head.Compare(before) <= 0 {
		t.Fatalf("head did not move: %s then %s", before, head)
	}
}

func testLargePayloads(t *testing.T, s eventstore.Store) {
	stream := streamName("large")
	big := event("Big", fmt.Sprintf(`{"blob":%q}`, strings.Repeat("0123456789abcdef", 1<<16))) // 1 MiB
	mustAppend(t, s, stream, eventstore.NoStream(), big)
	many := events(500, "Many")
	mustAppend(t, s, stream, eventstore.Exact(1), many...)

	got := readStream(t, s, stream)
	if len(got) != 501 {
		t.Fatalf("stream holds %d events, want 501", len(got))
	}
	if !jsonEqual(t, got[0].Data, big.Data) {
		t.Fatalf("1 MiB payload came back changed (%d bytes)", len(got[0].Data))
	}
	for i, e := range got[1:] {
		if e.ID != many[i].ID || e.Version != uint64(i+2) {
			t.Fatalf("event %d of the 500-event append is %s at %d", i, e.ID, e.Version)
		}
	}
}

// testOneWinnerPerVersion races writers that all expect the same version:
// exactly one may win each round, the others learn the new version.
func testOneWinnerPerVersion(t *testing.T, s eventstore.Store) {
	stream := streamName("race")
	const writers, rounds = 10, 5
	for round := range rounds {
		var wg sync.WaitGroup
		results := make(chan error, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Append(ctxFor(t), stream, eventstore.Exact(uint64(round)), event("Race", `{}`))
				results <- err
			}()
		}
		wg.Wait()
		close(results)
		wins := 0
		for err := range results {
			var conflict *eventstore.VersionConflictError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &conflict):
				if conflict.Actual != uint64(round+1) {
					t.Errorf("round %d: loser saw actual version %d, want %d", round, conflict.Actual, round+1)
				}
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writers won, want exactly 1", round, wins)
		}
	}
	if n := len(readStream(t, s, stream)); n != rounds {
		t.Fatalf("stream holds %d events, want %d", n, rounds)
	}
}

// testConcurrentRetriesAllLand is the loop the command side runs: read the
// version, append at it, and retry on a conflict. Every event lands once,
// at contiguous versions.
func testConcurrentRetriesAllLand(t *testing.T, s eventstore.Store) {
	stream := streamName("retry")
	const writers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := event("Retry", fmt.Sprintf(`{"writer":%d,"i":%d}`, w, i))
				for attempt := 0; ; attempt++ {
					version := uint64(0)
					if evs := readStreamOrNone(t, s, stream); len(evs) > 0 {
						version = evs[len(evs)-1].Version
					}
					_, err := s.Append(ctxFor(t), stream, eventstore.Exact(version), e)
					if err == nil {
						break
					}
					if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || attempt > 1000 {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := readStream(t, s, stream)
	if len(got) != writers*each {
		t.Fatalf("stream holds %d events, want %d", len(got), writers*each)
	}
	seen := map[uuid.UUID]bool{}
	for i, e := range got {
		if e.Version != uint64(i+1) || seen[e.ID] {
			t.Fatalf("event %d: version %d, seen before %v", i, e.Version, seen[e.ID])
		}
		seen[e.ID] = true
	}
}
