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
// A Worker holds no lock and handles no message: it builds six parts, wires
// them to each other (the callbacks below), and starts and stops them. Each
// part has its own lock (if any) and file(s):
//
//   - keyScheduler (scheduler.go): a queue and a goroutine per key with
//     work, so one goroutine at a time touches a key, in stream order; abandon.
//     No JetStream.
//   - stateStore (store.go): load from the COMMS_OPS bucket's leader, a
//     bounded cache, the compare-and-swap save that fences (ErrFenced).
//   - batches (batches.go): each key's applied, uncommitted messages and its
//     delayed commit (group commit).
//   - eventPublisher (publish.go): publishes decided events and stall checks.
//   - ownership (ownership.go): partition pins, cooldowns, balancing, and
//     the catch-up trigger (a new pin).
//   - processor (process.go, handle.go, commit.go, catchup.go, failure.go,
//     deadletter.go): the message path, driving the parts above: dispatch,
//     apply and publish, commit and ack, catch-up, and what becomes of
//     failures. No lock: a key's work runs on the key's goroutine alone.
//
// The wiring: the consume loops ownership starts (its pull) deliver to the
// processor's dispatch; the scheduler runs the processor's run and
// checkpoint; batches arms a delayed commit on the scheduler; the store asks
// the scheduler and batches whether a key may be evicted.
//
// Locks are never held across a call to the server. Lock order: stateStore
// before keyScheduler and batches (eviction asks whether a key is busy or
// dirty); batches before keyScheduler (arming a delayed commit). The
// processor has no lock, so it adds nothing to the order.
//
// # Processing and group commit
//
// One durable consumer per COMMS_IN partition; dispatch queues each message
// on its key. A key's messages are applied to its cached state one at a time
// and the events each decides are published at once (applyAndPublish):
// nothing waits for a state write. The message then joins the key's batch,
// committed when the key has nothing more queued, or CommitDelay later, and
// only then acked. A commit schedules the stall checks of the operations
// still open that have none (one finished within the batch needs none),
// then writes the state that records them (one compare-and-swap). So the
// cached state is always the committed state with the batch applied in
// order, and is rebuilt exactly that way when lost (evicted, or dropped
// after a failure). A crash loses only unacked messages, applied again by
// the next owner. The events a repeated application decides may already be
// stored: they are exactly the key's events after the committed state's
// ResolvedSeq, read once per rebuilt state and not published again.
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
// an earlier owner and not acked (ack floor to last delivered) are read from
// the stream's leader and queued on their keys ahead of anything new;
// otherwise a fresh message could be applied before an older one of its key
// that waits for redelivery. What a key's state lists as applied is skipped.
// A takeover (see "Failover") catches up too: what a killed member received
// and never acked is redelivered only after the ack wait, and until then
// nothing may be left to deliver that would start a catch-up. Those
// messages are applied without their delivery, and acked as duplicates
// when it comes.
//
// Reads that decide what is applied (the catch-up, a key's state) go to the
// stream's leader, never a direct get: any replica may answer one, and a
// replica behind the leader (a restarted node answers once 90% caught up)
// would end a catch-up early, or give a key an older state whose events are
// published before the compare-and-swap finds out.
//
// # Partitions
//
// Every worker pulls every partition, so when the server unpins a partition
// from a worker that stopped pulling (PinnedTTL after its last pull
// request), it pins it to another at once. With a workers bucket, each
// partition has an owner among the live workers by rendezvous hashing; a
// worker consuming a partition another live worker owns yields it (stops
// pulling for a cooldown and unpins it). Catch-up keeps each key's order
// through the move; the compare-and-swap fences the state.
//
// # Failover
//
// A killed worker's partitions do not wait for PinnedTTL. Each worker
// answers liveness probes on a subject of its own (liveness.go) with the pin
// ids of its partitions, and probes every other live member every 250ms. A
// probe answered "no responders" means the member's connection is gone: its
// subscription went with it (a slow member times out instead, and nothing
// is done). A member that leaves the live set (its heartbeat stale) before a
// probe finds it dead is probed for as long as its reported pins are held.
// The prober leaves the member out of balancing until it answers
// again, so a dead member whose heartbeat lingers in the bucket is not
// yielded to, and unpins each partition it owns without that member that is
// still pinned under the pin id the member reported (one survivor per
// partition, so that two never race to unpin each other's new pin) and ends
// its own cooldown on it. Once every such partition is unpinned, it drops its
// cached states and catches up on what the member received and never
// acked: no new pin waits for another partition's reads. Only the dead
// member's own pins are released. A worker that only lost its connection
// for a moment loses its partitions as it would at PinnedTTL, and the same
// catch-up and fencing keep that safe.
package resolver
