package command

import (
	"strconv"

	"github.com/google/uuid"
)

// Event IDs derived from an idempotency key make a repeated command harmless even where the
// idempotency record is missing: the service crashed, or lost its database connection, between
// appending and recording the response. The repeat derives the same IDs, finds them in the stream
// (Execute's step 3) and answers from them, and if two repeats race to append, the store's idempotent
// append or its unique event IDs refuse the second copy.
//
// Both the namespace and the name format are durable: changing either makes a repeat of a request
// made before the change write its events a second time.

// idNamespace returns the UUID namespace of derived IDs. A function rather than a package variable:
// nothing can change it.
func idNamespace() uuid.UUID {
	return uuid.UUID{0xb1, 0xbd, 0x4a, 0x4c, 0xe3, 0xec, 0x43, 0xc4, 0xab, 0x67, 0x96, 0xc1, 0xb4, 0xf2, 0x7a, 0x48}
}

// derivedEventID is the ID of the index-th event (from 0) of the command sent with key to order.
func derivedEventID(key string, order uuid.UUID, index int) uuid.UUID {
	return uuid.NewSHA1(idNamespace(), []byte(key+"\x00"+order.String()+"\x00"+strconv.Itoa(index)))
}

// derivedOrderID is the ID of an order created with key and no ID of its own, so that a repeat
// creates the same order rather than a second one.
func derivedOrderID(key string) uuid.UUID {
	return uuid.NewSHA1(idNamespace(), []byte("order\x00"+key))
}

// eventIDs hands out the IDs of one command's events: derived from the key when there is one, random
// otherwise. Random IDs are drawn once per command, so every attempt of it uses the same ones.
type eventIDs struct {
	key    string
	order  uuid.UUID
	random []uuid.UUID
}

func (e *eventIDs) id(i int) uuid.UUID {
	if e.key != "" {
		return derivedEventID(e.key, e.order, i)
	}
	for len(e.random) <= i {
		e.random = append(e.random, uuid.New())
	}
	return e.random[i]
}
