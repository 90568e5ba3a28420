// Package resolver turns the operation evidence in COMMS_IN (Graph
// notifications and bot action responses, duplicated, late and out of order)
// into resolved operation events in COMMS_RESOLVED.
//
// The pure part (Evidence, KeyState, Apply) merges one key's evidence on a
// forward-only status lattice and decides what to emit. The Worker runs it on
// JetStream: one durable consumer per COMMS_IN partition, every key processed
// by one goroutine at a time in stream order, state in the COMMS_OPS KV bucket
// written with a revision compare-and-swap before anything is emitted, and an
// outbox in that state so that a crash between the write and the publish loses
// and duplicates nothing.
package resolver
