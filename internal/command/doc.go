// Package command is the write side of the order platform: it runs a domain command against an order
// rebuilt from its event stream and appends the events the command produced.
//
// One call of [Service.Execute] is one command on one order:
//
//  1. wait for the order's in-process lock, so that commands on one order in one process queue up
//     instead of conflicting;
//  2. read the order's stream ("order-" + its UUID) and rebuild the order. If this process wrote the
//     order last and still holds it folded (see cache.go), a command without an idempotency key
//     decides on that: the append at its version (step 4) finds out whether it is stale, and a
//     refusal decided on it is decided again on a fresh read before it is answered. A command with a
//     key reads the events after the cached ones first;
//  3. if the stream already holds the command's own events (derived from its idempotency key, or
//     appended by an earlier try whose acknowledgement was lost), answer from them (see ids.go);
//  4. check If-Match, decide with [domain.Decide] and the injected clock, and append with the version
//     that was read as the expected one;
//  5. on a version conflict without If-Match, read what was added meanwhile and decide again, a few
//     times with jittered exponential backoff, then give up with [ErrConflict]. With If-Match a
//     conflict is a [PreconditionError];
//  6. on a transient store error (the database restarting, a failover) start again from step 2, a
//     few times with jittered exponential backoff. Rejections, failed preconditions and an open
//     circuit breaker's refusals are never retried.
//
// Optimistic concurrency in the store is what keeps an order consistent; the lock and the cache only
// save work within one process. Any number of replicas can run side by side.
package command
