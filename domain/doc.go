// Package domain is the Order aggregate of the order platform: its value
// objects, commands, events and rules, in plain Go with no I/O.
//
// Deciding and evolving are separate. [Decide] (or the method it dispatches
// to, such as [Order.Pay]) checks a command against the current state and
// returns new events or a named error; it never changes the order. [Order.Apply]
// folds one event into the state and never refuses one, so any history that
// was once accepted can always be read back, even after a rule has changed.
// [Rebuild] replays a whole history.
//
//	o := domain.Rebuild(history)
//	events, err := domain.Decide(o, domain.PayOrder{Amount: amount, PaymentReference: ref}, now)
//	if errors.Is(err, domain.ErrAmountMismatch) { ... }
//
// Time is passed in as now and every event records it as At, so decisions
// are deterministic and tests need no clock.
//
// Money is an int64 count of minor units (cents) and an ISO 4217 code; there
// are no floats. The caps on quantity (10,000), unit price (10^10 minor
// units) and lines (200) keep every total well inside int64.
//
// Event type names ("OrderPaid") are durable identifiers stored next to each
// payload with a schema version: renaming one is a data migration, not a
// refactor. [MarshalEvent] always writes the current version and
// [UnmarshalEvent] upcasts older ones, so the rest of the system only ever
// sees current event structs.
package domain
