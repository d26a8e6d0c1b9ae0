package command

import (
	"context"
	"sync"
)

// keyedMutex is a set of mutexes, one per key, that exist only while someone holds or waits for them.
// The service takes one per order so that concurrent commands on an order in this process queue up
// instead of racing to append and retrying. It is an optimisation only: replicas do not share it, and
// the store's expected-version check is what keeps an order consistent across them.
// Each entry counts its users and is deleted by the last one, so a process that touches millions of
// orders keeps only the locks in use.
//
// A lock is a channel of capacity one rather than a sync.Mutex so that waiting for it ends when the
// caller's ctx does: a request whose client went away, or whose deadline passed, leaves the queue.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	held  chan struct{}
	users int // holders and waiters; guarded by keyedMutex.mu
}

func newKeyedMutex() *keyedMutex { return &keyedMutex{locks: map[string]*keyedLock{}} }

// lock waits until it holds key's lock or ctx ends. On success the caller must call unlock once.
func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{held: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()

	select {
	case l.held <- struct{}{}:
		return func() {
			<-l.held
			k.leave(key, l)
		}, nil
	case <-ctx.Done():
		k.leave(key, l)
		return nil, ctx.Err()
	}
}

func (k *keyedMutex) leave(key string, l *keyedLock) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l.users--
	if l.users == 0 {
		delete(k.locks, key)
	}
}

// size returns how many keys have a lock, for tests.
func (k *keyedMutex) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.locks)
}
