// Package readmodel is the query side's PostgreSQL adapter: it reads the views the projector keeps
// (rm_orders, rm_customer_summaries, rm_daily_sales, ...) together with the checkpoint of the
// projection that wrote them, and it lets requests wait, without polling, until a projection has
// reached a position in the event log.
//
// Every read returns the position its data reflects: the projector commits a view's rows and its
// checkpoint in one transaction, and [Store] reads both in one snapshot, so the position is exact,
// not an estimate. A client that just wrote at position P and reads data at a position >= P sees its
// write.
//
// [Broker] holds one LISTEN connection per process on the channel the projector notifies after every
// batch ("projection_progress", payload "<projection>:<position>") and wakes the requests waiting for
// that projection. The tables and the channel are the projector's contract; this package only reads.
package readmodel
