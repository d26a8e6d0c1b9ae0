package queryapi

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// orderCache keeps recently read orders in process, so that a popular order cannot stampede the
// database:
//
//   - it keeps each order encoded, as GET /orders/{id} sends it (see encodedOrder), so that a hit
//     writes bytes instead of encoding the order again;
//   - concurrent loads of one order share one query (singleflight);
//   - a loaded order is served for a TTL drawn between ttl and 2×ttl, so that entries loaded together
//     do not expire together and reload in a burst;
//   - it is version-aware: an entry remembers the position of the orders projection it was read at,
//     and a request that asks for a later position (X-Min-Position) bypasses it and refreshes it. An
//     entry is never replaced by an older read, so a slow load cannot undo a fresh one;
//   - it is bounded, in entries and in bytes: past size entries or maxBytes of encoded orders, the
//     least recently used goes, and so do expired entries that reach the back of the LRU list. The
//     byte bound is what keeps the service's memory in hand: an order's size has no bound of its own
//     (its items), so a count alone would let a cache of large orders take any amount. An order
//     larger than an eighth of maxBytes is not cached at all, rather than push out many others.
//
// The price is staleness of up to 2×ttl for requests without X-Min-Position, which the API already
// promises no better than (the read model lags anyway), and which X-Projection-Position reports.
// Invalidating on the projector's notifications instead was considered: it would need the changed
// order IDs in the payload, or a query per notification, for a saving of one second of staleness.
//
// Orders that are not found are not cached: a client that polls for its new order should see it as
// soon as it is projected. Concurrent lookups of a missing order still share one query.
type orderCache struct {
	source   orderSource
	ttl      time.Duration
	size     int
	maxBytes int
	timeout  time.Duration // of a load, which outlives the request that started it
	now      func() time.Time
	lookups  func(hit bool) // counts lookups when set

	flights singleflight.Group

	mu      sync.Mutex
	entries map[uuid.UUID]*list.Element // of *cacheEntry
	lru     *list.List                  // most recently used at the front
	bytes   int                         // the entries' cost, summed
}

// cacheEntry is a cached order. The order is shared by every request that reads it: read-only.
type cacheEntry struct {
	id      uuid.UUID
	order   *encodedOrder
	pos     eventstore.Position
	expires time.Time
	cost    int // bytes held, roughly: the encoded order and the entry's bookkeeping
}

// entryOverhead is an entry's cost besides its encoded order: the entry, its list element and its
// slot in the map.
const entryOverhead = 256

// loaded is the result of one load, shared by the requests that joined it.
type loaded struct {
	order *encodedOrder
	pos   eventstore.Position
}

func newOrderCache(source orderSource, ttl time.Duration, size, maxBytes int, timeout time.Duration, now func() time.Time) *orderCache {
	return &orderCache{
		source:   source,
		ttl:      ttl,
		size:     size,
		maxBytes: maxBytes,
		timeout:  timeout,
		now:      now,
		entries:  make(map[uuid.UUID]*list.Element),
		lru:      list.New(),
	}
}

// get returns order id as of a position at or after min, with that position. A missing order is an
// error wrapping domain.ErrOrderNotFound, returned with the position.
func (c *orderCache) get(ctx context.Context, id uuid.UUID, min eventstore.Position) (*encodedOrder, eventstore.Position, error) {
	e, hit := c.lookup(id, min)
	if c.lookups != nil {
		c.lookups(hit)
	}
	if hit {
		return e.order, e.pos, nil
	}
	// A load that started before the projection reached min may return older data. One started after
	// that load ended is fresh for a caller that waited for min first, so a second try is enough; if
	// it is still older (min is ahead of the projection), its data is what there is.
	var (
		res loaded
		err error
	)
	for range 2 {
		res, err = c.load(ctx, id, min)
		if err != nil && !errors.Is(err, domain.ErrOrderNotFound) {
			return nil, eventstore.Position{}, err
		}
		if res.pos.Compare(min) >= 0 {
			break
		}
	}
	return res.order, res.pos, err
}

// lookup returns the live entry for id if it is at min or later.
func (c *orderCache) lookup(id uuid.UUID, min eventstore.Position) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[id]
	if !ok {
		return cacheEntry{}, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return cacheEntry{}, false
	}
	if e.pos.Compare(min) < 0 {
		return cacheEntry{}, false
	}
	c.lru.MoveToFront(el)
	return *e, true
}

// load reads order id from the source, sharing the query with concurrent loads of the same order.
func (c *orderCache) load(ctx context.Context, id uuid.UUID, min eventstore.Position) (loaded, error) {
	ch := c.flights.DoChan(id.String(), func() (any, error) {
		// A request that missed the cache just before another load stored the order, and came here
		// just after that load ended, finds the order stored now rather than reading it again.
		if e, hit := c.lookup(id, min); hit {
			return loaded{order: e.order, pos: e.pos}, nil
		}
		// The load serves every request that joins it: it must not fail because the one that started
		// it gave up, so it has a deadline of its own instead of that request's.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		order, pos, err := c.source.Order(ctx, id)
		var enc *encodedOrder
		if err == nil {
			// Encoded here: once for every request that joined the load and every later hit.
			enc, err = encodeOrder(order)
		}
		if err == nil || errors.Is(err, domain.ErrOrderNotFound) {
			c.put(id, enc, pos)
		}
		return loaded{order: enc, pos: pos}, err
	})
	select {
	case r := <-ch:
		res, _ := r.Val.(loaded)
		return res, r.Err
	case <-ctx.Done():
		return loaded{}, ctx.Err()
	}
}

// encodedOrder is an order as GET /orders/{id} answers it, encoded when it is loaded. Encoding the
// cached order on every hit instead cost about a tenth of the service's CPU under load; keeping the
// decoded order beside its encoding would only add memory, since a hit needs nothing else.
type encodedOrder struct {
	customerID string // whose order it is: ownership is checked on every request, hit or miss
	etag       string
	body       []byte // JSON with a final newline, byte for byte what echo's c.JSON writes
}

func encodeOrder(o *readmodel.Order) (*encodedOrder, error) {
	body, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode order %s: %w", o.OrderID, err)
	}
	return &encodedOrder{customerID: o.CustomerID, etag: httpapi.ETag(o.Version), body: append(body, '\n')}, nil
}

// put stores what a load found, unless the cache holds a newer read. A nil order (not found) only
// drops an older entry.
func (c *orderCache) put(id uuid.UUID, order *encodedOrder, pos eventstore.Position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[id]; ok {
		if el.Value.(*cacheEntry).pos.Compare(pos) > 0 {
			return
		}
		c.remove(el)
	}
	if order == nil {
		return
	}
	cost := len(order.body) + len(order.etag) + len(order.customerID) + entryOverhead
	if cost > c.maxBytes/8 {
		return
	}
	now := c.now()
	jitter := time.Duration(rand.Int64N(int64(c.ttl) + 1))
	c.entries[id] = c.lru.PushFront(&cacheEntry{id: id, order: order, pos: pos, expires: now.Add(c.ttl + jitter), cost: cost})
	c.bytes += cost
	// Expired entries at the back go too, rather than only once a bound is reached: under reads
	// spread over many orders, the cache would otherwise stay full of entries no request can use,
	// and the service's memory with it.
	for oldest := c.lru.Back(); oldest != nil; oldest = c.lru.Back() {
		if e := oldest.Value.(*cacheEntry); c.lru.Len() <= c.size && c.bytes <= c.maxBytes && now.Before(e.expires) {
			break
		}
		c.remove(oldest)
	}
}

// remove drops an entry. c.mu is held.
func (c *orderCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.entries, e.id)
	c.bytes -= e.cost
}
