// Package resolver turns the operation evidence in COMMS_IN (Graph
// notifications and bot action responses, duplicated, late and out of order)
// into resolved operation events in COMMS_RESOLVED.
//
// The pure part (Evidence, KeyState, Apply) merges one key's evidence on a
// forward-only status lattice and decides what to emit. The Worker runs it on
// JetStream. This comment is the design of the Worker; the functions' own
// comments say only what they return and guarantee.
//
// # Parts
//
// A Worker holds no lock; it wires five parts, each with its own lock (if
// any) and file:
//
//   - keyScheduler (scheduler.go): a queue and a goroutine per key with
//     work, so one goroutine at a time touches a key, in stream order; abandon.
//     No JetStream.
//   - stateStore (store.go): load from the COMMS_OPS bucket, a bounded
//     cache, the compare-and-swap save that fences (ErrFenced).
//   - batches (commit.go): each key's applied, uncommitted messages and its
//     delayed commit (group commit).
//   - eventPublisher (publish.go): publishes decided events and stall checks.
//   - ownership (ownership.go): partition pins, cooldowns, balancing, and
//     the catch-up trigger (a new pin).
//
// Locks are never held across a call to the server. Lock order: stateStore
// before keyScheduler and batches (eviction asks whether a key is busy or
// dirty); batches before keyScheduler (arming a delayed commit).
//
// # Processing and group commit
//
// One durable consumer per COMMS_IN partition; dispatch queues each message
// on its key. A key's messages are applied to its cached state one at a time
// and the events each decides are published at once (applyAndPublish):
// nothing waits for a state write. The message then joins the key's batch,
// committed (one compare-and-swap write) when the key has nothing more
// queued, or CommitDelay later, and only then acked. So the cached state is
// always the committed state with the batch applied in order, and is rebuilt
// exactly that way when lost (evicted, or dropped after a failure). A crash
// loses only unacked messages, applied again by the next owner. The events a
// repeated application decides may already be stored: they are exactly the
// key's events after the committed state's ResolvedSeq, read once per rebuilt
// state and not published again.
//
// # State writes
//
// A save is the bucket's own compare-and-swap (Nats-Expected-Last-Subject-
// Sequence on $KV.<bucket>.<key>, the bucket streams.Ensure made in this
// account and domain, never a mirror) sent as one awaited async publish: the
// same as KeyValue.Update without a request's reply subscription. A new key
// whose subject holds a delete marker is left to KeyValue.Create. A state
// whose operations are all terminal is written with the retention as its
// TTL; new evidence writes it again without one.
//
// # Waiting out failures
//
// classify (failure.go) is the one place that decides what becomes of a
// failure. One that can pass (JetStream or the bucket unavailable or full, a
// timeout) is retried in place with backoff for as long as it lasts, the
// key's later messages held behind it, so none is applied to a state that
// lacks what the failing work may have published; the waiting messages are
// kept from redelivery (InProgress). What retrying cannot mend (permanent)
// is left for redelivery and dead-lettered on its last delivery. Once Stop
// begins failing work is not waited out: its key is abandoned, nothing more
// of it processed or acked, so the next owner applies all of it in order.
// Two signals stop a Worker: stopBegun (Stop called: background loops end,
// failing work is abandoned) and stopCtx (the drain deadline passed: work in
// flight is cancelled).
//
// # Catch-up
//
// When a partition is pinned to this worker anew, the messages delivered to
// an earlier owner and not acked (ack floor to last delivered) are read with
// direct gets and queued on their keys ahead of anything new; otherwise a
// fresh message could be applied before an older one of its key that waits
// for redelivery. What a key's state lists as applied is skipped.
//
// # Partitions
//
// Every worker pulls every partition, so when the worker a partition is
// pinned to dies, the server pins it to another. With a workers bucket,
// each partition has an owner among the live workers by rendezvous hashing;
// a worker consuming a partition another live worker owns yields it (stops
// pulling for a cooldown and unpins it). Catch-up keeps each key's order
// through the move; the compare-and-swap fences the state. Start sets the
// partitions up concurrently, each pulled as soon as its consumer exists.
//
// # Failover
//
// The server unpins a partition when no pull request under its pin came for
// PinnedTTL. A worker's own pulls do not come at a steady pace (one lasts
// 30s when idle; none is sent while MaxAckPending is reached), so each
// worker renews its pins itself, every PinnedTTL/4, busy or idle, with a
// pull request that cannot take a message (max_bytes 1: answered 404, 408 or
// 409, or 423 once the pin is gone). A live worker thus keeps its pins
// unless four renewals in a row are lost, and PinnedTTL can be short: a
// killed worker's partitions move within it, with no membership round in
// the way. The default, 2s, is not shorter because a worker starved of CPU
// (a burst of deliveries at the start on a backlog, on a loaded 2-core
// machine) was measured to miss 750ms: its pins moved back to it, each new
// pin costing a catch-up and a cold cache, and the extra work starved it
// further (CPU per message up to 5 times). 750ms fails over in under a
// second where workers have CPU to spare. The alternative, live workers
// noticing a missing heartbeat and unpinning the dead worker's partitions,
// needs a heartbeat as frequent as the failover time and a map of who holds
// which pin, and would unpin a live worker's partitions on any mistake in
// it.
//
// A killed worker's heartbeat stays in the bucket for a few heartbeats, so
// balancing would yield its partitions back to it. Each worker answers
// pings on its own subject (a core subscription, gone with its connection),
// and a member that does not answer one is not yielded to. PinnedTTL is
// also how long a drained worker's pins would linger, had Stop not unpinned
// them.
package resolver
