package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/orderflow/orderflow/eventstore"
)

// These tests run the real client against fakeServer (fake_test.go). The
// conformance suite against a real server is in esdb_test.go.

func event(typ string) eventstore.EventData {
	return eventstore.EventData{
		ID: uuid.New(), Type: typ, SchemaVersion: 2, Data: json.RawMessage(`{"n":1}`),
		Metadata: eventstore.Metadata{CorrelationID: "corr", Actor: "alice"},
	}
}

func TestAppendSendsOurEvents(t *testing.T) {
	s, f := openFake(t, WithStreamPrefix("p-"))
	tests := []struct {
		expected eventstore.ExpectedVersion
		want     string
	}{
		{eventstore.Any(), "any"},
		{eventstore.NoStream(), "no_stream"},
		{eventstore.StreamExists(), "stream_exists"},
		{eventstore.Exact(3), "2"},
	}
	for _, tc := range tests {
		e := event("OrderPaid")
		if _, err := s.Append(testContext(t), "order-1", tc.expected, e); err != nil {
			t.Fatalf("append at %s: %v", tc.expected, err)
		}
		call := f.lastAppend(t)
		if call.stream != "p-order-1" || call.expected != tc.want {
			t.Errorf("append at %s sent stream %q expecting %q, want %q expecting %q", tc.expected, call.stream, call.expected, "p-order-1", tc.want)
		}
		m := call.events[0]
		if uuidOf(m.GetId()) != e.ID || m.GetMetadata()["type"] != "OrderPaid" || m.GetMetadata()["content-type"] != "application/json" ||
			string(m.GetData()) != `{"n":1}` || string(m.GetCustomMetadata()) != `{"schema_version":2,"correlation_id":"corr","actor":"alice"}` {
			t.Errorf("sent event %v", m)
		}
	}
}

func TestAppendReportsVersionAndPosition(t *testing.T) {
	s, f := openFake(t)
	f.add("order-1", "Seed", nil)
	res, err := s.Append(testContext(t), "order-1", eventstore.Exact(1), event("A"), event("B"))
	if err != nil {
		t.Fatal(err)
	}
	log := f.events()
	last := log[len(log)-1]
	if want := (eventstore.AppendResult{Version: 3, Position: eventstore.Position{Commit: last.pos, Prepare: last.pos}}); res != want {
		t.Errorf("append = %+v, want %+v", res, want)
	}
}

func TestIdempotentRetryWithoutPositionReadsItBack(t *testing.T) {
	s, f := openFake(t)
	f.add("order-1", "A", nil)
	original := f.add("order-1", "B", nil)
	f.add("order-1", "C", nil)
	f.setOnAppend(func(context.Context, fakeAppend) (*api.AppendResp, error) {
		// What the server says to a retry whose events it could not read back.
		return &api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
			CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: original.revision},
			PositionOption:        &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
		}}}, nil
	})
	res, err := s.Append(testContext(t), "order-1", eventstore.NoStream(), event("A"), event("B"))
	if err != nil {
		t.Fatal(err)
	}
	want := eventstore.AppendResult{Version: 2, Position: eventstore.Position{Commit: original.pos, Prepare: original.pos}}
	if res != want {
		t.Errorf("retry = %+v, want the original %+v", res, want)
	}
	reads := f.readRequests()
	if len(reads) != 1 || reads[0].GetOptions().GetStream().GetRevision() != original.revision || reads[0].GetOptions().GetCount() != 1 {
		t.Errorf("read back with %v, want one event at revision %d", reads, original.revision)
	}
}

func wrongExpectedVersion(context.Context, fakeAppend) (*api.AppendResp, error) {
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{
		WrongExpectedVersion: &api.AppendResp_WrongExpectedVersion{},
	}}, nil
}

func TestConflictCarriesActualVersion(t *testing.T) {
	s, f := openFake(t, WithStreamPrefix("p-"))
	for range 4 {
		f.add("p-order-1", "Seed", nil)
	}
	f.setOnAppend(wrongExpectedVersion)

	_, err := s.Append(testContext(t), "order-1", eventstore.Exact(2), event("Late"))
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) || !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("err = %v, want a *VersionConflictError", err)
	}
	if want := (eventstore.VersionConflictError{Stream: "order-1", Expected: eventstore.Exact(2), Actual: 4}); *conflict != want {
		t.Errorf("conflict = %+v, want %+v", *conflict, want)
	}
	read := f.readRequests()[0].GetOptions()
	if read.GetReadDirection() != api.ReadReq_Options_Backwards || read.GetStream().GetEnd() == nil || read.GetCount() != 1 {
		t.Errorf("actual version read with %v, want the last event only", read)
	}

	_, err = s.Append(testContext(t), "missing", eventstore.StreamExists(), event("Late"))
	if !errors.As(err, &conflict) || conflict.Actual != 0 {
		t.Errorf("conflict on a missing stream: %v, want actual version 0", err)
	}
}

func TestAppendFailures(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(ctx context.Context, call fakeAppend) (*api.AppendResp, error)
		want    error
		notWant error
	}{
		{
			name: "tombstoned stream",
			answer: func(ctx context.Context, call fakeAppend) (*api.AppendResp, error) {
				_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", "stream-deleted", "stream-name", call.stream))
				return nil, status.Error(codes.FailedPrecondition, "Event stream is deleted.")
			},
			want: ErrStreamDeleted, notWant: eventstore.ErrUnavailable,
		},
		{
			name: "larger than the server takes",
			answer: func(context.Context, fakeAppend) (*api.AppendResp, error) {
				return nil, status.Error(codes.InvalidArgument, "Maximum Append Size of 1048576 Exceeded.")
			},
			want: eventstore.ErrInvalidEvent, notWant: eventstore.ErrUnavailable,
		},
		{
			name: "server not ready",
			answer: func(context.Context, fakeAppend) (*api.AppendResp, error) {
				return nil, status.Error(codes.Unavailable, "Server Is Not Ready")
			},
			want: eventstore.ErrUnavailable,
		},
		{
			name: "commit timeout",
			answer: func(context.Context, fakeAppend) (*api.AppendResp, error) {
				return nil, status.Error(codes.Aborted, "Operation timed out")
			},
			want: eventstore.ErrUnavailable,
		},
		{
			name: "access denied",
			answer: func(context.Context, fakeAppend) (*api.AppendResp, error) {
				return nil, status.Error(codes.PermissionDenied, "Access denied")
			},
			notWant: eventstore.ErrUnavailable,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, f := openFake(t)
			f.setOnAppend(tc.answer)
			_, err := s.Append(testContext(t), "order-1", eventstore.Any(), event("A"))
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || (tc.notWant != nil && errors.Is(err, tc.notWant)) {
				t.Errorf("err = %v, want %v and not %v", err, tc.want, tc.notWant)
			}
		})
	}
}

func TestAppendRefusesInvalidEventsWithoutCallingTheServer(t *testing.T) {
	s, f := openFake(t)
	for _, tc := range []struct {
		stream string
		e      eventstore.EventData
	}{
		{"", event("A")},
		{"$order-1", event("A")},
		{"order-1", event("$A")},
		{"order-1", eventstore.EventData{ID: uuid.New(), Type: "A", SchemaVersion: 1, Data: []byte(`{`)}},
	} {
		if _, err := s.Append(testContext(t), tc.stream, eventstore.Any(), tc.e); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("append %q to %q: err = %v, want ErrInvalidEvent", tc.e.Type, tc.stream, err)
		}
	}
	if n := len(f.appendCalls()); n != 0 {
		t.Errorf("%d invalid appends reached the server", n)
	}
}

func TestReadStream(t *testing.T) {
	s, f := openFake(t, WithStreamPrefix("p-"))
	for i := range 5 {
		f.add("p-order-1", fmt.Sprintf("E%d", i+1), []byte(`{"schema_version":2,"actor":"alice"}`))
	}
	f.add("p-other", "X", nil)

	got, err := s.ReadStream(testContext(t), "order-1", 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Version != 3 || got[1].Version != 4 || got[0].Type != "E3" || got[0].StreamID != "order-1" ||
		got[0].SchemaVersion != 2 || got[0].Metadata.Actor != "alice" || got[0].RecordedAt.IsZero() {
		t.Errorf("read from 3 max 2 = %+v", got)
	}
	opts := f.readRequests()[0].GetOptions()
	if string(opts.GetStream().GetStreamIdentifier().GetStreamName()) != "p-order-1" || opts.GetStream().GetRevision() != 2 ||
		opts.GetCount() != 2 || opts.GetReadDirection() != api.ReadReq_Options_Forwards {
		t.Errorf("read request %v, want p-order-1 forwards from revision 2, 2 events", opts)
	}

	if got, err := s.ReadStream(testContext(t), "order-1", 0, 100); err != nil || len(got) != 5 || got[0].Version != 1 {
		t.Errorf("read from 0 = %d events, %v; want all 5 from version 1", len(got), err)
	}
	if got, err := s.ReadStream(testContext(t), "order-1", 6, 100); err != nil || len(got) != 0 {
		t.Errorf("read past the end = %d events, %v; want none", len(got), err)
	}
	if _, err := s.ReadStream(testContext(t), "missing", 1, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Errorf("read of a missing stream: err = %v, want ErrStreamNotFound", err)
	}
	if _, err := s.ReadStream(testContext(t), "", 1, 10); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Errorf("read of an empty name: err = %v, want ErrInvalidEvent", err)
	}
}

func TestReadTombstonedStream(t *testing.T) {
	s, f := openFake(t)
	f.add("order-1", "A", nil)
	f.setOnRead(func(s api.Streams_ReadServer, req *api.ReadReq) error {
		_ = grpc.SetTrailer(s.Context(), metadata.Pairs("exception", "stream-deleted", "stream-name", "order-1"))
		return status.Error(codes.FailedPrecondition, "Event stream 'order-1' is deleted.")
	})
	_, err := s.ReadStream(testContext(t), "order-1", 1, 10)
	if !errors.Is(err, eventstore.ErrStreamNotFound) || !errors.Is(err, ErrStreamDeleted) {
		t.Errorf("err = %v, want ErrStreamNotFound and ErrStreamDeleted", err)
	}
}

func TestClientPanicIsAnError(t *testing.T) {
	s, f := openFake(t)
	f.add("order-1", "A", nil)
	f.setOnRead(func(s api.Streams_ReadServer, req *api.ReadReq) error {
		// A message client v4.2.0 does not expect in a read: it panics.
		return s.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{}}})
	})
	_, err := s.ReadStream(testContext(t), "order-1", 1, 10)
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("err = %v, want the client's panic as an error", err)
	}
	f.setOnRead(nil)
	if _, err := s.ReadStream(testContext(t), "order-1", 1, 10); err != nil {
		t.Errorf("read after the panic: %v", err)
	}
}

// seedLog writes what a shared server holds: the server's own events,
// another view's, ours, and metadata of ours, with more system events
// than a page of $all between and after them.
func seedLog(f *fakeServer) (ours []fakeEvent) {
	for range 100 {
		f.add("$stats-0.0.0.0:2113", "$statsCollected", nil)
	}
	ours = append(ours, f.add("p-a", "A1", nil), f.add("p-a", "A2", nil))
	for range 70 {
		f.add("q-a", "Q", nil)
	}
	f.add("$$p-a", "$metadata", nil)
	f.add("p-b", "$streamDeleted", nil)
	ours = append(ours, f.add("p-a", "A3", nil), f.add("p-b", "B1", nil), f.add("p-b", "B2", nil))
	for range 300 {
		f.add("$stats-0.0.0.0:2113", "$statsCollected", nil)
	}
	return ours
}

func TestReadAllSeesOnlyItsViewStrictlyAfter(t *testing.T) {
	s, f := openFake(t, WithStreamPrefix("p-"))
	ours := seedLog(f)

	whole, err := s.ReadAll(testContext(t), eventstore.Position{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != len(ours) {
		t.Fatalf("read %d events, want %d", len(whole), len(ours))
	}
	for i, e := range whole {
		if e.ID != ours[i].id || e.Position.Commit != ours[i].pos || "p-"+e.StreamID != ours[i].stream {
			t.Errorf("event %d = %s %s at %s, want %s %s at %d", i, e.StreamID, e.ID, e.Position, ours[i].stream, ours[i].id, ours[i].pos)
		}
	}
	for _, size := range []int{1, 2, 3} {
		var got []eventstore.RecordedEvent
		from := eventstore.Position{}
		for {
			batch, err := s.ReadAll(testContext(t), from, size)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, batch...)
			if len(batch) < size {
				break
			}
			from = batch[len(batch)-1].Position
		}
		if len(got) != len(whole) {
			t.Fatalf("batches of %d read %d events, want %d", size, len(got), len(whole))
		}
		for i := range got {
			if got[i].ID != whole[i].ID {
				t.Fatalf("batches of %d: event %d differs", size, i)
			}
		}
	}
	if rest, err := s.ReadAll(testContext(t), whole[len(whole)-1].Position, 10); err != nil || len(rest) != 0 {
		t.Errorf("read after the last event = %d events, %v; want none", len(rest), err)
	}
}

func TestReadAllWithoutPrefixSkipsOnlySystemEvents(t *testing.T) {
	s, f := openFake(t)
	seedLog(f)
	got, err := s.ReadAll(testContext(t), eventstore.Position{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5+70 {
		t.Errorf("read %d events, want the 75 of both views", len(got))
	}
	for _, e := range got {
		if strings.HasPrefix(e.StreamID, "$") || strings.HasPrefix(e.Type, "$") {
			t.Errorf("system event %s %s in the log", e.StreamID, e.Type)
		}
	}
}

func TestHead(t *testing.T) {
	s, f := openFake(t, WithStreamPrefix("p-"))
	if head, err := s.Head(testContext(t)); err != nil || !head.IsZero() {
		t.Errorf("head of an empty log = %s, %v; want zero", head, err)
	}
	ours := seedLog(f)
	last := ours[len(ours)-1]
	if head, err := s.Head(testContext(t)); err != nil || head != (eventstore.Position{Commit: last.pos, Prepare: last.pos}) {
		t.Errorf("head = %s, %v; want %d, the last event of the view", head, err, last.pos)
	}

	other := New(mustClient(t, s), WithStreamPrefix("z-"))
	if head, err := other.Head(testContext(t)); err != nil || !head.IsZero() {
		t.Errorf("head of a view with no events = %s, %v; want zero", head, err)
	}
	if got, err := other.ReadAll(testContext(t), eventstore.Position{}, 10); err != nil || len(got) != 0 {
		t.Errorf("read all of a view with no events = %d events, %v", len(got), err)
	}
}

func mustClient(t *testing.T, s *Store) *esdb.Client {
	t.Helper()
	c, err := s.conn.current()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClassifyWrappedClientErrors(t *testing.T) {
	ctx := context.Background()

	// A closed client fails with ErrorCodeConnectionClosed.
	config, err := esdb.ParseConnectionString("esdb://127.0.0.1:1?tls=false")
	if err != nil {
		t.Fatal(err)
	}
	config.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	_ = client.Close()
	_, closedErr := client.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{}, esdb.EventData{EventType: "A"})

	// A read of a missing stream fails at its first Recv.
	s, _ := openFake(t)
	_, notFoundErr := readEach(func() (*esdb.ReadStream, error) {
		return mustClient(t, s).ReadStream(ctx, "missing", esdb.ReadStreamOptions{}, 1)
	}, func(*esdb.RecordedEvent) bool { return true })

	tests := []struct {
		name string
		err  error
		code esdb.ErrorCode
		want error
	}{
		{"connection closed", closedErr, esdb.ErrorCodeConnectionClosed, eventstore.ErrUnavailable},
		{"stream not found", notFoundErr, esdb.ErrorCodeResourceNotFound, eventstore.ErrStreamNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, ok := codeOf(tc.err); !ok || code != tc.code {
				t.Fatalf("client returned %v (code %d), want code %d", tc.err, code, tc.code)
			}
			wrapped := fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", tc.err))
			// The trap: FromError only type-asserts.
			if esErr, _ := esdb.FromError(wrapped); esErr.Code() != esdb.ErrorCodeUnknown {
				t.Errorf("esdb.FromError(wrapped) = code %d; v4.2.0 reports a wrapped error as unknown", esErr.Code())
			}
			if got := classify(ctx, wrapped); !errors.Is(got, tc.want) {
				t.Errorf("classify(wrapped %v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	live := context.Background()
	canceled, cancel := context.WithCancel(live)
	cancel()
	expired, cancel2 := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancel2()

	raw := status.Error(codes.Unavailable, "connection refused")
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want []error
		not  []error
	}{
		{"grpc unavailable", live, raw, []error{eventstore.ErrUnavailable}, nil},
		{"grpc deadline", live, status.Error(codes.DeadlineExceeded, "slow"), []error{eventstore.ErrUnavailable}, nil},
		{"grpc not found", live, status.Error(codes.NotFound, "nope"), []error{eventstore.ErrStreamNotFound}, nil},
		{"grpc permission denied", live, status.Error(codes.PermissionDenied, "no"), nil, []error{eventstore.ErrUnavailable}},
		{"caller canceled", canceled, raw, []error{context.Canceled}, []error{eventstore.ErrUnavailable}},
		{"caller's deadline", expired, raw, []error{eventstore.ErrUnavailable, context.DeadlineExceeded}, nil},
		{"definite answer beats an ended ctx", expired, status.Error(codes.NotFound, "nope"), []error{eventstore.ErrStreamNotFound}, nil},
		{"already translated", expired, eventstore.ErrWrongExpectedVersion, []error{eventstore.ErrWrongExpectedVersion}, []error{eventstore.ErrUnavailable}},
		{"closed", live, ErrClosed, []error{ErrClosed}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.ctx, tc.err)
			for _, w := range tc.want {
				if !errors.Is(got, w) {
					t.Errorf("classify(%v) = %v, want %v", tc.err, got, w)
				}
			}
			for _, n := range tc.not {
				if errors.Is(got, n) {
					t.Errorf("classify(%v) = %v, want not %v", tc.err, got, n)
				}
			}
		})
	}
	if classify(live, nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

// deadURL is a connection string for a port nobody listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return "esdb://" + addr + "?tls=false&maxDiscoverAttempts=1&discoveryInterval=1&gossipTimeout=1"
}

func TestOpenUnreachableServerIsUnavailable(t *testing.T) {
	_, err := Open(testContext(t), deadURL(t))
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("open: err = %v, want ErrUnavailable", err)
	}
}

func TestOpenRejectsBadConnectionStrings(t *testing.T) {
	for _, url := range []string{"postgres://localhost:5432", "kurrentdb://admin:s3cret@localhost:abc", "esdb://localhost?tls=maybe"} {
		_, err := Open(testContext(t), url)
		if err == nil || errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("open %q: err = %v, want a configuration error", url, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("open: error shows the password: %v", err)
		}
	}
}

// TestCallsEndWithTheirContextWhenTheClientHangs reproduces the client
// blocking forever: concurrent first calls queue on its state machine,
// which stops when discovery fails and leaves them stuck (see conn).
func TestCallsEndWithTheirContextWhenTheClientHangs(t *testing.T) {
	config, err := esdb.ParseConnectionString(deadURL(t))
	if err != nil {
		t.Fatal(err)
	}
	config.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	// Left open: closing it under the stuck calls would be a data race.
	s := New(client, WithTimeout(300*time.Millisecond))

	const calls = 16
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Go(func() {
			_, err := s.Head(context.Background()) // no deadline: the store's own applies
			errs <- err
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("calls still running 10s after their 300ms deadline")
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	}
}

func TestStoreReplacesAClientThatGaveUp(t *testing.T) {
	s, _ := openFake(t)
	gaveUp := mustClient(t, s)
	_ = gaveUp.Close() // as the client does itself after failed discovery

	_, err := s.Append(testContext(t), "order-1", eventstore.Any(), event("A"))
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("call on the dead client: err = %v, want ErrUnavailable", err)
	}
	if mustClient(t, s) == gaveUp {
		t.Fatal("store kept the dead client")
	}
	if _, err := s.Append(testContext(t), "order-1", eventstore.Any(), event("A")); err != nil {
		t.Fatalf("call after the replacement: %v", err)
	}
}

func TestClose(t *testing.T) {
	s, _ := openFake(t)
	shared := New(mustClient(t, s))
	if err := shared.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Head(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("head after close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Head(testContext(t)); err != nil {
		t.Errorf("closing a store from New closed the caller's client: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(testContext(t), "order-1", eventstore.Any(), event("A")); !errors.Is(err, ErrClosed) {
		t.Errorf("append after close: err = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestDefaultDeadline(t *testing.T) {
	s := New(nil, WithTimeout(time.Minute))
	ctx, cancel := s.withTimeout(context.Background())
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Minute {
		t.Errorf("no deadline, or a later one, on a ctx without: %v %v", d, ok)
	}
	mine, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	ctx, cancel3 := s.withTimeout(mine)
	defer cancel3()
	if d, _ := ctx.Deadline(); time.Until(d) < 59*time.Minute {
		t.Errorf("caller's deadline replaced by %v", d)
	}
}
