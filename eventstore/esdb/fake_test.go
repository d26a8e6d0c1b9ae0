package esdb

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
)

// fakeServer speaks the Streams gRPC service well enough for the real
// client to talk to it: it keeps a log, serves reads of streams and $all
// the way ESDB does (forward reads of $all include their start, backward
// ones do not, a missing stream is a StreamNotFound message), and lets a
// test script the answer to an append. It is no stand-in for the server's
// rules: those are checked by the conformance test against a real one. It
// is here to test this package's use of the client, which the real server
// cannot make misbehave on demand.
type fakeServer struct {
	api.UnimplementedStreamsServer

	mu       sync.Mutex
	log      []fakeEvent
	nextPos  uint64
	appends  []fakeAppend
	reads    []*api.ReadReq
	onAppend func(ctx context.Context, call fakeAppend) (*api.AppendResp, error) // nil: append at any version
	onRead   func(s api.Streams_ReadServer, req *api.ReadReq) error              // runs first; an error fails the read
}

type fakeAppend struct {
	stream   string
	expected string // "any", "no_stream", "stream_exists" or the revision
	events   []*api.AppendReq_ProposedMessage
}

type fakeEvent struct {
	stream         string
	revision       uint64
	pos            uint64
	id             uuid.UUID
	typ            string
	data, metadata []byte
	created        time.Time
}

// startFake serves a fakeServer on a free port and returns it with a
// connection string for it.
func startFake(t *testing.T) (*fakeServer, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	f := &fakeServer{nextPos: 1000}
	api.RegisterStreamsServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return f, "esdb://" + lis.Addr().String() + "?tls=false&maxDiscoverAttempts=1&gossipTimeout=1"
}

// openFake opens a Store on a new fakeServer.
func openFake(t *testing.T, opts ...Option) (*Store, *fakeServer) {
	t.Helper()
	f, url := startFake(t)
	s, err := Open(testContext(t), url, opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, f
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// add puts an event at the end of the log, as if some writer had.
func (f *fakeServer) add(stream, typ string, metadata []byte) fakeEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(stream, uuid.New(), typ, []byte(`{}`), metadata)
}

func (f *fakeServer) addLocked(stream string, id uuid.UUID, typ string, data, metadata []byte) fakeEvent {
	var revision uint64
	for _, e := range f.log {
		if e.stream == stream {
			revision = e.revision + 1
		}
	}
	f.nextPos += 100
	e := fakeEvent{stream: stream, revision: revision, pos: f.nextPos, id: id, typ: typ, data: data, metadata: metadata, created: time.Now()}
	f.log = append(f.log, e)
	return e
}

func (f *fakeServer) Append(s api.Streams_AppendServer) error {
	var call fakeAppend
	for {
		req, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch c := req.Content.(type) {
		case *api.AppendReq_Options_:
			call.stream = string(c.Options.GetStreamIdentifier().GetStreamName())
			switch {
			case c.Options.GetAny() != nil:
				call.expected = "any"
			case c.Options.GetNoStream() != nil:
				call.expected = "no_stream"
			case c.Options.GetStreamExists() != nil:
				call.expected = "stream_exists"
			default:
				call.expected = strconv.FormatUint(c.Options.GetRevision(), 10)
			}
		case *api.AppendReq_ProposedMessage_:
			call.events = append(call.events, c.ProposedMessage)
		}
	}
	f.mu.Lock()
	f.appends = append(f.appends, call)
	hook := f.onAppend
	f.mu.Unlock()
	if hook != nil {
		resp, err := hook(s.Context(), call)
		if err != nil {
			return err
		}
		return s.SendAndClose(resp)
	}
	f.mu.Lock()
	var last fakeEvent
	for _, m := range call.events {
		last = f.addLocked(call.stream, uuidOf(m.GetId()), m.GetMetadata()["type"], m.GetData(), m.GetCustomMetadata())
	}
	f.mu.Unlock()
	return s.SendAndClose(appendSuccess(last.revision, last.pos))
}

func appendSuccess(revision, pos uint64) *api.AppendResp {
	return &api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: revision},
		PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: pos, PreparePosition: pos,
		}},
	}}}
}

func (f *fakeServer) Read(req *api.ReadReq, s api.Streams_ReadServer) error {
	f.mu.Lock()
	f.reads = append(f.reads, req)
	hook := f.onRead
	events, found := f.selectLocked(req.GetOptions())
	f.mu.Unlock()
	if hook != nil {
		if err := hook(s, req); err != nil {
			return err
		}
	}
	if !found {
		return s.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: req.GetOptions().GetStream().GetStreamIdentifier(),
		}}})
	}
	for _, e := range events {
		if err := s.Send(readResp(e)); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeServer) selectLocked(opts *api.ReadReq_Options) ([]fakeEvent, bool) {
	backwards := opts.GetReadDirection() == api.ReadReq_Options_Backwards
	var keep func(fakeEvent) bool
	if so := opts.GetStream(); so != nil {
		name := string(so.GetStreamIdentifier().GetStreamName())
		if !slices.ContainsFunc(f.log, func(e fakeEvent) bool { return e.stream == name }) {
			return nil, false
		}
		keep = func(e fakeEvent) bool {
			switch {
			case e.stream != name:
				return false
			case so.GetStart() != nil || so.GetEnd() != nil:
				return true
			case backwards:
				return e.revision <= so.GetRevision()
			}
			return e.revision >= so.GetRevision()
		}
	} else {
		all := opts.GetAll()
		keep = func(e fakeEvent) bool {
			switch {
			case all.GetStart() != nil || all.GetEnd() != nil:
				return true
			case backwards:
				return e.pos < all.GetPosition().GetCommitPosition()
			}
			return e.pos >= all.GetPosition().GetCommitPosition()
		}
	}
	var out []fakeEvent
	for _, e := range f.log {
		if keep(e) {
			out = append(out, e)
		}
	}
	if backwards {
		slices.Reverse(out)
	}
	if n := opts.GetCount(); uint64(len(out)) > n {
		out = out[:n]
	}
	return out, true
}

func readResp(e fakeEvent) *api.ReadResp {
	most, least := esdb.UUIDAsInt64(e.id)
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: most, LeastSignificantBits: least}}},
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.stream)},
			StreamRevision:   e.revision,
			CommitPosition:   e.pos,
			PreparePosition:  e.pos,
			Metadata: map[string]string{
				"type":         e.typ,
				"content-type": "application/json",
				// .NET ticks since the Unix epoch; the client dies without it.
				"created": strconv.FormatInt(e.created.UnixNano()/100, 10),
			},
			Data:           e.data,
			CustomMetadata: e.metadata,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.pos},
	}}}
}

func uuidOf(id *shared.UUID) uuid.UUID {
	s := id.GetStructured()
	u, _ := esdb.ParseUUIDFromInt64(s.GetMostSignificantBits(), s.GetLeastSignificantBits())
	return u
}

func (f *fakeServer) lastAppend(t *testing.T) fakeAppend {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.appends) == 0 {
		t.Fatal("no append reached the server")
	}
	return f.appends[len(f.appends)-1]
}

func (f *fakeServer) setOnAppend(fn func(ctx context.Context, call fakeAppend) (*api.AppendResp, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onAppend = fn
}

func (f *fakeServer) setOnRead(fn func(s api.Streams_ReadServer, req *api.ReadReq) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onRead = fn
}

func (f *fakeServer) events() []fakeEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *fakeServer) appendCalls() []fakeAppend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.appends)
}

func (f *fakeServer) readRequests() []*api.ReadReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reads)
}
