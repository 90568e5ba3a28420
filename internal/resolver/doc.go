// Package resolver turns the operation evidence in COMMS_IN (Graph
// notifications and bot action responses, duplicated, late and out of order)
// into resolved operation events in COMMS_RESOLVED.
//
// The pure part (Evidence, KeyState, Apply) merges one key's evidence on a
// forward-only status lattice and decides what to emit. The Worker runs it on
// JetStream: one durable consumer per COMMS_IN partition, every key processed
// by one goroutine at a time in stream order, the decided events published at
// once, and the state in the COMMS_OPS KV bucket written with a revision
// compare-and-swap once per batch of a key's messages (group commit, see
// commit.go), which are acked after it. A crash loses nothing acknowledged,
// and the events of re-applied messages that were already stored are
// recognised by the key's resolvedSeq and not published again. A failure
// that can pass is waited out with the key's later messages held behind it
// (retry.go), so a key's messages are applied in stream order through
// outages too.
package resolver
