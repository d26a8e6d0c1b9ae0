package command

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestKeyedMutexSerializesOneKey(t *testing.T) {
	k := newKeyedMutex()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		inside  int
		maxSeen int
	)
	for range 20 {
		wg.Go(func() {
			unlock, err := k.lock(t.Context(), "a")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			maxSeen = max(maxSeen, inside)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		})
	}
	wg.Wait()
	if maxSeen != 1 {
		t.Errorf("%d holders at once, want 1", maxSeen)
	}
	if got := k.size(); got != 0 {
		t.Errorf("%d locks left after use, want 0", got)
	}
}

func TestKeyedMutexKeysAreIndependent(t *testing.T) {
	k := newKeyedMutex()
	unlockA, err := k.lock(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	unlockB, err := k.lock(ctx, "b")
	if err != nil {
		t.Fatalf("lock b while a is held: %v", err)
	}
	unlockB()
	unlockA()
}

func TestKeyedMutexWaitEndsWithCtx(t *testing.T) {
	k := newKeyedMutex()
	unlock, err := k.lock(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := k.lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a held key = %v, want DeadlineExceeded", err)
	}
	if got := k.size(); got != 1 {
		t.Errorf("%d locks while a is held, want 1 (the waiter must not leave a count behind)", got)
	}
	unlock()
	if got := k.size(); got != 0 {
		t.Errorf("%d locks left, want 0", got)
	}
	// The lock still works after a waiter gave up.
	unlock, err = k.lock(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}
