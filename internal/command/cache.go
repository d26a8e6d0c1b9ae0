package command

import (
	"container/list"
	"sync"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
)

// recorded is what a command needs to remember of an event in its order's stream: its ID, to find a
// command's own events again (see execution.applied), and where it was written, to answer with that.
type recorded struct {
	id       uuid.UUID
	version  uint64
	position eventstore.Position
}

// cachedOrder is an order as this process last saw it: folded, with its events' IDs and places.
type cachedOrder struct {
	order    *domain.Order
	recorded []recorded
}

// orderCache keeps the orders this process last wrote, so that the next command on one of them can
// decide without reading its stream first.
//
// A cached order may be stale: another replica may have appended since. That is safe for a command
// without an idempotency key because it appends at the version it saw (eventstore.Exact), which
// fails if the stream moved on; the command then reads what was appended and decides again, as after
// any conflict. A refusal decided on a cached order is never answered as is: the command reads first
// and decides again (see execution.attempt). A command with a key reads the events after the cached
// ones before it decides, and its order is not cached after its append: its event IDs are derived
// from the key, and the stores match IDs before versions, so a stale decision could meet its own
// events as a replay or a duplicate instead of a conflict. A cache miss costs what every command cost
// without the cache.
//
// An execution takes its order out of the cache and puts it back when it is done, so no two
// executions share an order's state (the service's per-order lock already queues them).
type orderCache struct {
	size int

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry, by stream
	lru     *list.List               // most recently used at the front
}

type cacheEntry struct {
	stream string
	cachedOrder
}

// newOrderCache returns a cache of at most size orders; nil (no cache) when size is not positive.
func newOrderCache(size int) *orderCache {
	if size <= 0 {
		return nil
	}
	return &orderCache{size: size, entries: map[string]*list.Element{}, lru: list.New()}
}

// take removes stream's order from the cache and returns it.
func (c *orderCache) take(stream string) (cachedOrder, bool) {
	if c == nil {
		return cachedOrder{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[stream]
	if !ok {
		return cachedOrder{}, false
	}
	c.lru.Remove(el)
	delete(c.entries, stream)
	return el.Value.(*cacheEntry).cachedOrder, true
}

// put stores stream's order, evicting the least recently used past size.
func (c *orderCache) put(stream string, o cachedOrder) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[stream]; ok {
		c.lru.Remove(el)
	}
	c.entries[stream] = c.lru.PushFront(&cacheEntry{stream: stream, cachedOrder: o})
	for c.lru.Len() > c.size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).stream)
	}
}
