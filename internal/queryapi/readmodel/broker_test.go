package readmodel_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/pgtest"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
	"github.com/orderflow/orderflow/migrations"
)

// fixture is a database with the read-model schema and a running Broker on it.
type fixture struct {
	t      *testing.T
	pool   *pgxpool.Pool
	broker *readmodel.Broker
	reads  *atomic.Int64 // checkpoint reads of Wait
	stall  *stall
}

// countingPositions counts the single-checkpoint reads (Wait's; a resync reads them all at once).
type countingPositions struct {
	*readmodel.Store
	n     *atomic.Int64
	stall *stall
}

func (c countingPositions) Checkpoint(ctx context.Context, projection string) (eventstore.Position, error) {
	c.n.Add(1)
	pos, err := c.Store.Checkpoint(ctx, projection)
	if c.stall.armed.CompareAndSwap(true, false) {
		close(c.stall.read)
		<-c.stall.release
	}
	return pos, err
}

// stall, once armed, holds the next single-checkpoint read after it has read, until release is
// closed: a read that began before what the test does next and ends after it.
type stall struct {
	armed   atomic.Bool
	read    chan struct{} // closed once the held read has its position
	release chan struct{}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := migrations.Up(ctx, url, migrations.ReadModel()); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	reads := new(atomic.Int64)
	held := &stall{read: make(chan struct{}), release: make(chan struct{})}
	broker, err := readmodel.NewBroker(url, countingPositions{readmodel.NewStore(pool, 5*time.Second), reads, held}, readmodel.BrokerOptions{
		Idle: 200 * time.Millisecond, // exercise the idle ping
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = broker.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	f := &fixture{t: t, pool: pool, broker: broker, reads: reads, stall: held}
	f.eventually("listening", func() bool { return broker.Ready(ctx) == nil })
	return f
}

func (f *fixture) eventually(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("not %s after 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.pool.Exec(ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

func (f *fixture) setCheckpoint(name, pos string) {
	f.exec(`INSERT INTO projection_checkpoints (name, schema_version, position) VALUES ($1, 1, $2)
ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position`, name, pos)
}

func (f *fixture) notify(payload string) {
	f.exec("SELECT pg_notify($1, $2)", readmodel.Channel, payload)
}

// listener returns the process ID of the Broker's connection, or 0.
func (f *fixture) listener() int32 {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pid int32
	err := f.pool.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity
WHERE application_name = 'orderflow-query-listener' AND datname = current_database()`).Scan(&pid)
	if err != nil {
		f.t.Fatal(err)
	}
	return pid
}

// known sets projection's checkpoint to pos and notifies it, and returns once the Broker knows it:
// once a wait for pos returns without reading the checkpoint.
func (f *fixture) known(projection, pos string) {
	f.t.Helper()
	want, err := eventstore.ParsePosition(pos)
	if err != nil {
		f.t.Fatal(err)
	}
	f.setCheckpoint(projection, pos)
	f.notify(projection + ":" + pos)
	f.eventually(pos+" known", func() bool {
		reads := f.reads.Load()
		_, err := f.broker.Wait(f.t.Context(), projection, want, time.Minute)
		return err == nil && f.reads.Load() == reads
	})
}

// reconnect ends the Broker's connection and returns once it listens on a new one. A new connection
// means the Broker noticed the old one's end, and stopped listening then; listening again means it
// has read the checkpoints over the new one.
func (f *fixture) reconnect() {
	f.t.Helper()
	old := f.listener()
	f.exec("SELECT pg_terminate_backend($1)", old)
	f.eventually("listening again", func() bool {
		pid := f.listener()
		return pid != 0 && pid != old && f.broker.Ready(f.t.Context()) == nil
	})
}

type result struct {
	pos eventstore.Position
	err error
}

// waitLater starts a Wait and returns once it is registered.
func (f *fixture) waitLater(projection, want string, patience time.Duration) <-chan result {
	f.t.Helper()
	pos, err := eventstore.ParsePosition(want)
	if err != nil {
		f.t.Fatal(err)
	}
	before := f.broker.Waiting()
	ch := make(chan result, 1)
	go func() {
		p, err := f.broker.Wait(context.Background(), projection, pos, patience)
		ch <- result{p, err}
	}()
	f.eventually("waiting", func() bool { return f.broker.Waiting() > before })
	return ch
}

func TestBrokerWakesWaiters(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint("orders", "1:0")

	early := f.waitLater("orders", "5:0", time.Minute)
	late := f.waitLater("orders", "9:0", time.Minute)
	other := f.waitLater("daily_sales", "2:0", 300*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // idle pings come and go

	f.notify("garbage")
	f.notify("orders:not-a-position")
	f.setCheckpoint("orders", "6:1")
	f.notify("orders:6:1")
	if r := <-early; r.err != nil || r.pos.String() != "6:1" {
		t.Errorf("early waiter: %v at %v", r.err, r.pos)
	}
	select {
	case r := <-late:
		t.Fatalf("the waiter for 9:0 woke at %v", r.pos)
	case <-time.After(50 * time.Millisecond):
	}
	f.notify("orders:9:0")
	if r := <-late; r.err != nil || r.pos.String() != "9:0" {
		t.Errorf("late waiter: %v at %v", r.err, r.pos)
	}
	if r := <-other; !errors.Is(r.err, readmodel.ErrNotReached) || !r.pos.IsZero() {
		t.Errorf("waiter of a projection with no progress: %v at %v", r.err, r.pos)
	}
	if n := f.broker.Waiting(); n != 0 {
		t.Errorf("%d waiters left", n)
	}
}

// TestBrokerKnowsNotifiedPositions: while the Broker listens, a projection it knows needs no
// checkpoint read: a wait for a position already notified returns at once, and one for a later
// position waits for its notification. Only a wait that times out reads the checkpoint, once, and
// finds a move that was not notified; a projection the Broker does not know is read at once.
func TestBrokerKnowsNotifiedPositions(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint("orders", "1:0")
	waiting := f.waitLater("orders", "5:0", time.Minute)
	f.setCheckpoint("orders", "5:0")
	f.notify("orders:5:0")
	if r := <-waiting; r.err != nil {
		t.Fatal(r.err) // from here on, the notification of 5:0 has been handled
	}
	reads := f.reads.Load()
	for _, want := range []eventstore.Position{{Commit: 4}, {Commit: 5}} {
		if pos, err := f.broker.Wait(t.Context(), "orders", want, time.Minute); err != nil || pos.String() != "5:0" {
			t.Errorf("Wait for %s = %v, %v; want 5:0", want, pos, err)
		}
	}
	later := f.waitLater("orders", "6:0", time.Minute)
	f.setCheckpoint("orders", "6:0")
	f.notify("orders:6:0")
	if r := <-later; r.err != nil || r.pos.String() != "6:0" {
		t.Errorf("Wait for 6:0 = %v, %v; want 6:0", r.pos, r.err)
	}
	if n := f.reads.Load() - reads; n != 0 {
		t.Errorf("waits for a known projection read the checkpoint %d times", n)
	}

	f.setCheckpoint("orders", "7:0") // not notified
	if pos, err := f.broker.Wait(t.Context(), "orders", eventstore.Position{Commit: 7}, 10*time.Millisecond); err != nil || pos.String() != "7:0" {
		t.Errorf("Wait for 7:0, moved without a notification = %v, %v; want 7:0 from the read at the bound", pos, err)
	}
	if pos, err := f.broker.Wait(t.Context(), "orders", eventstore.Position{Commit: 8}, 10*time.Millisecond); !errors.Is(err, readmodel.ErrNotReached) || pos.String() != "7:0" {
		t.Errorf("Wait for 8:0 = %v, %v; want ErrNotReached at 7:0", pos, err)
	}
	if n := f.reads.Load() - reads; n != 2 {
		t.Errorf("two waits that timed out read the checkpoint %d times, want once each", n)
	}
	// Another projection's progress tells nothing about this one: a projection the Broker does
	// not know is read.
	reads = f.reads.Load()
	if _, err := f.broker.Wait(t.Context(), "daily_sales", eventstore.Position{Commit: 1}, 10*time.Millisecond); !errors.Is(err, readmodel.ErrNotReached) {
		t.Errorf("Wait for daily_sales = %v, want ErrNotReached", err)
	}
	if n := f.reads.Load() - reads; n != 1 {
		t.Errorf("a wait for a projection the Broker does not know read the checkpoint %d times, want once", n)
	}
}

// TestBrokerForgetsOnReconnect: a checkpoint that went back (a restored database, which ends every
// connection) is believed once the listener has reconnected, not the position notified before.
func TestBrokerForgetsOnReconnect(t *testing.T) {
	f := newFixture(t)
	f.known("orders", "5:0")
	f.setCheckpoint("orders", "2:0")
	f.reconnect()
	pos, err := f.broker.Wait(t.Context(), "orders", eventstore.Position{Commit: 5}, 10*time.Millisecond)
	if !errors.Is(err, readmodel.ErrNotReached) || pos.String() != "2:0" {
		t.Errorf("Wait for 5:0 after the checkpoint went back to 2:0 = %v, %v; want ErrNotReached at 2:0", pos, err)
	}
}

// TestBrokerDropsAReadFromBeforeAReconnect: a wait's checkpoint read that began before the listener
// lost its connection and ends after the reconnection is not taken as known: the resync read the
// checkpoints since, and the database may have gone back (a restore) in between.
func TestBrokerDropsAReadFromBeforeAReconnect(t *testing.T) {
	// given: 5:0 known, 6:0 reached without a notification
	f := newFixture(t)
	f.known("orders", "5:0")
	f.setCheckpoint("orders", "6:0")

	// when: a wait for 7:0 reads 6:0 at its bound, and before it is done with it the database goes
	// back to 2:0 and the listener reconnects
	f.stall.armed.Store(true)
	waited := make(chan result, 1)
	go func() {
		pos, err := f.broker.Wait(context.Background(), "orders", eventstore.Position{Commit: 7}, 10*time.Millisecond)
		waited <- result{pos, err}
	}()
	select {
	case <-f.stall.read:
	case <-time.After(10 * time.Second):
		t.Fatal("the wait did not read the checkpoint at its bound")
	}
	f.setCheckpoint("orders", "2:0")
	f.reconnect()
	close(f.stall.release)
	if r := <-waited; !errors.Is(r.err, readmodel.ErrNotReached) {
		t.Fatalf("Wait for 7:0 = %v, %v; want ErrNotReached", r.pos, r.err)
	}

	// then: the Broker knows 2:0, from its resync, not the 6:0 read before it
	pos, err := f.broker.Wait(t.Context(), "orders", eventstore.Position{Commit: 5}, 10*time.Millisecond)
	if !errors.Is(err, readmodel.ErrNotReached) || pos.String() != "2:0" {
		t.Errorf("Wait for 5:0 = %v, %v; want ErrNotReached at 2:0", pos, err)
	}
}

// TestBrokerResyncsAfterReconnect: progress whose notification was lost (here: never sent) while the
// listener was away wakes its waiters once the listener is back.
func TestBrokerResyncsAfterReconnect(t *testing.T) {
	f := newFixture(t)
	waiting := f.waitLater("orders", "3:0", time.Minute)
	time.Sleep(50 * time.Millisecond) // past the waiter's own checkpoint read
	f.setCheckpoint("orders", "3:0")  // no notification

	f.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'orderflow-query-listener' AND datname = current_database()")
	select {
	case r := <-waiting:
		if r.err != nil || r.pos.String() != "3:0" {
			t.Errorf("after the reconnection: %v at %v", r.err, r.pos)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was not woken after the listener reconnected")
	}
	f.eventually("listening again", func() bool { return f.broker.Ready(t.Context()) == nil })

	// And the new connection listens.
	again := f.waitLater("orders", "4:0", time.Minute)
	f.setCheckpoint("orders", "4:0")
	f.notify("orders:4:0")
	if r := <-again; r.err != nil {
		t.Error(r.err)
	}
}

func TestBrokerWaitEndsWithContext(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := f.broker.Wait(ctx, "orders", eventstore.Position{Commit: 1}, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, readmodel.ErrNotReached) {
		t.Errorf("Wait = %v, want the context's error", err)
	}
}
