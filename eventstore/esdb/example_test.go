package esdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/esdb"
)

func ExampleOpen() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := esdb.Open(ctx, "kurrentdb://admin:changeit@localhost:2113?tls=false")
	if err != nil {
		log.Fatal(err) // errors.Is(err, eventstore.ErrUnavailable) if the server is down
	}
	defer store.Close()

	res, err := store.Append(ctx, "order-42", eventstore.NoStream(), eventstore.EventData{
		ID:            uuid.New(), // reuse it when retrying: retries are idempotent
		Type:          "OrderPlaced",
		SchemaVersion: 1,
		Data:          json.RawMessage(`{"total":"10.00 EUR"}`),
		Metadata:      eventstore.Metadata{CorrelationID: "req-1", Actor: "alice"},
	})
	var conflict *eventstore.VersionConflictError
	switch {
	case errors.As(err, &conflict):
		fmt.Println("written meanwhile; the stream is at version", conflict.Actual)
	case errors.Is(err, eventstore.ErrUnavailable):
		fmt.Println("try again later, with the same event ID")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("order-42 is at version", res.Version, "position", res.Position)
	}
}
