package command

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

var (
	// ErrConflict: the order kept changing under the command until the retries ran out.
	ErrConflict = errors.New("order changed concurrently too often; retry later")
	// ErrPreconditionFailed: the order is not at the version the caller required. The error is a
	// *PreconditionError.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrOutcomeUnknown: an append of the command reached the store, which did not confirm it (a timeout,
	// a connection lost), and no later attempt settled whether it was written. The command may have been
	// applied. A repeat with the same idempotency key learns which: it answers with the events if they
	// are there, and appends them otherwise. The error is an *OutcomeUnknownError.
	ErrOutcomeUnknown = errors.New("the event store did not confirm the append: the command may have been applied")
)

// PreconditionError reports an order that was not at the version the request's If-Match named, when it
// was read or when the events were appended.
type PreconditionError struct {
	Expected uint64
	// Current is the order's version when the mismatch was seen; 0 means it does not exist.
	Current uint64
}

func (e *PreconditionError) Error() string {
	return fmt.Sprintf("order is at version %d, not %d: %v", e.Current, e.Expected, ErrPreconditionFailed)
}

func (e *PreconditionError) Unwrap() error { return ErrPreconditionFailed }

// CurrentVersion is what an HTTP layer reports as the current version.
func (e *PreconditionError) CurrentVersion() uint64 { return e.Current }

// OutcomeUnknownError is ErrOutcomeUnknown for one order, with the store's last error. The order ID
// matters to a caller that created the order without naming it: it is how it can look the order up.
type OutcomeUnknownError struct {
	OrderID uuid.UUID
	Err     error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("order %s: %v: %v", e.OrderID, ErrOutcomeUnknown, e.Err)
}

func (e *OutcomeUnknownError) Unwrap() []error { return []error{ErrOutcomeUnknown, e.Err} }

// Order is what an HTTP layer reports as the order concerned.
func (e *OutcomeUnknownError) Order() string { return e.OrderID.String() }
