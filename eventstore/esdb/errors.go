package esdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orderflow/orderflow/eventstore"
)

var (
	// ErrStreamDeleted: the stream was tombstoned (hard-deleted) and can
	// never be written again. Reads of such a stream also match
	// eventstore.ErrStreamNotFound.
	ErrStreamDeleted = errors.New("stream deleted")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store closed")
)

// classify translates an error of the client into the store's terms. It is
// the one place that knows the client's error codes:
//
//	client error                          store error                  why
//	ErrorCodeWrongExpectedVersion         *VersionConflictError        (Append only: needs the actual version, see appendTo)
//	ErrorCodeResourceNotFound             ErrStreamNotFound            stream has no events, or was soft-deleted
//	ErrorCodeStreamDeleted                ErrStreamDeleted             stream was tombstoned
//	ErrorUnavailable                      ErrUnavailable               node down, not ready or too busy
//	ErrorCodeConnectionClosed             ErrUnavailable               client gave up discovering the node (Store redials, see conn)
//	ErrorCodeDeadlineExceeded             ErrUnavailable               no answer in time
//	ErrorCodeNotLeader                    ErrUnavailable               client is reconnecting to the leader
//	ErrorAborted                          ErrUnavailable               server-side timeout; a timed-out append may have landed,
//	                                                                   and its retry with the same IDs is idempotent
//	gRPC InvalidArgument (Append only)    ErrInvalidEvent              rejected before writing, e.g. larger than MaxAppendSize
//	ErrorCodeUnauthenticated, ErrorCodeAccessDenied, ErrorCodeUnsupportedFeature, ErrorCodeParsing,
//	ErrorCodeInternalClient, ErrorCodeInternalServer, ErrorCodeResourceAlreadyExists, ErrorCodeUnknown:
//	                                      wrapped as is                retrying will not help; the message says why
//
// The client returns *esdb.Error from most calls, but raw gRPC status
// errors where a read fails to start, so both are classified, the latter
// by their gRPC code. errors.As, not esdb.FromError, finds an *esdb.Error:
// FromError only type-asserts and reports a wrapped one as unknown.
//
// Once ctx has ended, that is the cause worth reporting, unless the server
// gave a definite answer: a deadline is ErrUnavailable and
// context.DeadlineExceeded, a cancellation is context.Canceled.
func classify(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrClosed) || isOurs(err) {
		return err
	}
	code, fromClient := codeOf(err)
	rpc := grpcCode(err)
	switch {
	case code == esdb.ErrorCodeResourceNotFound, !fromClient && rpc == codes.NotFound:
		return fmt.Errorf("%w: %v", eventstore.ErrStreamNotFound, err)
	case code == esdb.ErrorCodeStreamDeleted:
		return fmt.Errorf("%w: %v", ErrStreamDeleted, err)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, ctxErr)
		}
		return ctxErr
	}
	switch {
	case code == esdb.ErrorUnavailable, code == esdb.ErrorCodeConnectionClosed, code == esdb.ErrorCodeDeadlineExceeded,
		code == esdb.ErrorCodeNotLeader, code == esdb.ErrorAborted,
		!fromClient && (rpc == codes.Unavailable || rpc == codes.DeadlineExceeded || rpc == codes.Aborted):
		return fmt.Errorf("%w: %v", eventstore.ErrUnavailable, err)
	}
	return err
}

// isOurs reports whether err was already translated by this package.
func isOurs(err error) bool {
	for _, target := range []error{
		eventstore.ErrWrongExpectedVersion, eventstore.ErrStreamNotFound, eventstore.ErrInvalidEvent,
		eventstore.ErrUnavailable, ErrStreamDeleted,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// codeOf returns the client's code for err, and whether err came from the
// client at all.
func codeOf(err error) (esdb.ErrorCode, bool) {
	var esErr *esdb.Error
	if errors.As(err, &esErr) {
		return esErr.Code(), true
	}
	return esdb.ErrorCodeUnknown, false
}

// grpcCode returns the gRPC status code under err, wrapped by the client or
// not.
func grpcCode(err error) codes.Code {
	var esErr *esdb.Error
	if errors.As(err, &esErr) && esErr.Err() != nil {
		return status.Code(esErr.Err())
	}
	return status.Code(err)
}
