// Package forwarder pushes the resolved events of COMMS_RESOLVED to an HTTP
// sink as CloudEvents in HTTP binary content mode (the CloudEvents SDK's HTTP
// protocol), with the id, type, source, subject, time and extensions of the
// stored event and its data as the body.
//
// # Order per key, across replicas
//
// The events of one key (the <key> token of comms.resolved.<key>.<status>,
// one clientContext) reach the sink one at a time, in stream order; different
// keys go concurrently (Config.Concurrency at once). Every replica binds the
// same durable consumer, whose priority group is pinned
// (PriorityPolicyPinned): the server delivers to one replica at a time and
// keeps the others on standby, moving the pin when the pinned replica stops
// pulling for PinnedTTL (a crash) or unpins on shutdown. Two replicas never
// receive the consumer's messages at the same time, so within the pinned one
// a per-key queue is enough. A shared durable without a pin cannot do it:
// MaxAckPending only bounds what is in flight, it does not say to whom, and
// two replicas could hold two events of one key at once. Partitioned durables
// would need a partition token that COMMS_RESOLVED's subjects do not have.
//
// What the pin does not cover is the hand-over: the previous holder's
// unacknowledged events (in flight at a crash, released at a shutdown,
// nak'd for a retry) come back as redeliveries, possibly after AckWait, while
// the new holder already receives later events of the same keys. So a
// replica that sees a new pin id (Nats-Pin-Id) first walks the consumer's
// unacknowledged range (ack floor, last delivered] in the stream and puts a
// placeholder for each of those events in its key's queue (takeover.go). A
// placeholder holds every later event of its key until the event itself is
// redelivered (then sent in its place) or the ack floor passes it (the
// previous holder acked it after all). A retry uses the same placeholder: a
// failed event is nak'd with a delay and its key waits for its redelivery.
// Events held behind a placeholder are kept from redelivery (InProgress).
// The cost: after a crash, the keys that had events in flight on the dead
// replica wait for their redelivery, up to AckWait; the other keys go on at
// once. Delivery is at least once: an event in flight at a crash is sent
// again (the sink dedupes by id), never after a later event of its key.
//
// # Delivery outcomes
//
// A 2xx acks. 429 and 503 are retried after their Retry-After (seconds or an
// HTTP date, capped by Config.MaxRetryAfter); any other answer (a redirect
// too: it is not followed), a transport error or Config.Timeout is retried
// with exponential backoff (NakWithDelay).
// The delivery numbered Config.MaxDeliver that fails copies the event to
// COMMS_DLQ at comms.dlq.COMMS_RESOLVED.<key>, with the resolver's
// Commsops-Dlq-* headers, and acks it, so its key goes on. An event that is
// not a CloudEvent goes there at once.
//
// The sink's bearer token is added by the HTTP transport, never logged:
// neither request headers nor the sink URL appear in a log line or an error.
package forwarder
