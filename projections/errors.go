package projections

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderflow/orderflow/eventstore"
)

// applyError wraps an error returned by a projection's Apply.
type applyError struct{ err error }

func (e *applyError) Error() string { return "apply: " + e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

// poisonError names the event a projection fails on.
type poisonError struct {
	at  eventstore.Position
	id  uuid.UUID
	err error
}

func (e *poisonError) Error() string {
	return fmt.Sprintf("event %s at %s: %v", e.id, e.at, e.err)
}

func (e *poisonError) Unwrap() error { return e.err }

// transient reports whether err means the database or the store could not be reached or had to abort
// the transaction: then the same batch will likely succeed later, and looking for a poison event in
// it would be pointless.
func transient(err error) bool {
	if errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"40", // serialization failure, deadlock
			"53", // insufficient resources
			"57": // operator intervention: shutdown, query cancelled
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}
