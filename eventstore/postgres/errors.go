package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderflow/orderflow/eventstore"
)

// translate turns driver errors that mean "the database cannot be reached
// now" into eventstore.ErrUnavailable, keeping the original in the chain.
// Everything else passes through: it is a bug or a data problem, and
// retrying it would not help.
func translate(err error) error {
	if err == nil || errors.Is(err, eventstore.ErrUnavailable) {
		return err
	}
	if transient(err) {
		if notSent(err) {
			return fmt.Errorf("%w: %w: %w", eventstore.ErrUnavailable, eventstore.ErrNotWritten, err)
		}
		return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	return err
}

// notSent reports a failure that happened before anything reached the server: a connection that could
// not be made, or one that pgconn knows failed before sending.
func notSent(err error) bool {
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr) || pgconn.SafeToRetry(err)
}

func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true // the database did not answer in time
	}
	// A failed connection attempt is transient whatever the server said
	// (for example 55000 "database not accepting connections").
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources (too many connections, out of memory or disk)
			"57": // operator intervention: admin shutdown, crash shutdown, cannot connect now
			return pgErr.Code != "57014" // query_canceled is ours, not the server's
		case "40": // serialization failure, deadlock
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}
