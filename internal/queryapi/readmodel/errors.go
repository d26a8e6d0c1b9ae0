package readmodel

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrUnavailable: the read-model database could not be reached or did not answer in time;
	// retrying later may succeed.
	ErrUnavailable = errors.New("read-model database unavailable")

	// ErrNotReached: a projection did not reach the requested position before the wait ended.
	ErrNotReached = errors.New("projection has not reached the requested position")

	// ErrCustomerNotFound: no order of the customer has been projected (yet).
	ErrCustomerNotFound = errors.New("customer not found")
)

// translate marks failures to reach the database as ErrUnavailable, keeping the original in the
// chain. Everything else passes through: it is a bug or bad data, and retrying would not help.
func translate(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !transient(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// transient reports errors that say "the database cannot be reached now", counted as the event
// store's PostgreSQL adapter counts them.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources
			"57": // operator intervention (shutdown, cannot connect now)
			return pgErr.Code != "57014" // query_canceled: our own deadline or cancellation
		case "40": // serialization failure, deadlock
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}
