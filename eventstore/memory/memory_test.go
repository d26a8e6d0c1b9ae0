package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/memory"
	"github.com/orderflow/orderflow/eventstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) eventstore.Store { return memory.New(nil) })
}

func TestEventIDUsedInAnotherStream(t *testing.T) {
	s := memory.New(nil)
	ctx := context.Background()
	e := eventstore.EventData{ID: [16]byte{1}, Type: "A", SchemaVersion: 1, Data: []byte(`{}`)}
	if _, err := s.Append(ctx, "a", eventstore.NoStream(), e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "b", eventstore.NoStream(), e); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("err = %v, want ErrDuplicateEventID", err)
	}
}
