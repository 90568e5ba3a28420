package resolver

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/subjects"
)

// processor runs the message path (see doc.go, "Processing and group
// commit"): it dispatches deliveries onto their keys, applies and publishes,
// commits and acks, catches up new partitions, and waits out, gives up or
// dead-letters what fails. It holds no lock: it drives the parts it refers
// to, and a key's work runs on the key's goroutine alone.
type processor struct {
	cfg        Config
	js         jetstream.JetStream // dead-letter copies, catch-up reads from the leader
	partitions int
	log        *slog.Logger
	m          *metrics

	sched   *keyScheduler[item]
	store   *stateStore
	batches *batches
	pub     *eventPublisher
	parts   *ownership

	// stopBegun and stopCtx are the Worker's (see Worker): failing work is
	// abandoned once stopBegun ends, work in flight ends with stopCtx.
	stopBegun context.Context
	stopCtx   context.Context
}

// item is one unit of a key's work: a delivered message, (msg nil) a
// catch-up of a message delivered to an earlier owner and not yet acked, or
// (commit) the delayed commit of the key's batch.
type item struct {
	msg     jetstream.Msg
	ev      *Evidence
	subject string
	commit  bool
}

// dispatch queues a message behind the others of its key. Called by the
// consume loops, in stream order per partition; a delivery that starts a new
// ownership of its partition catches up first.
func (pr *processor) dispatch(msg jetstream.Msg) {
	in, err := subjects.ParseStoredIn(msg.Subject())
	if err != nil || in.Partition < 0 || in.Partition >= pr.partitions {
		pr.deadLetter(msg, "", fmt.Errorf("%w: subject %q is not a partition of this stream", ErrPoison, msg.Subject()))
		return
	}
	if pr.parts.delivered(in.Partition, msg.Headers().Get("Nats-Pin-Id")) {
		// The partition was just pinned to this worker (a new pin id): it may
		// have been another worker's, or this one's under an older pin, until
		// now. Queue what was left unacked first. A fresh first delivery
		// bounds that range: everything from it on comes to this worker anyway.
		below := uint64(0)
		if meta, err := msg.Metadata(); err == nil && meta.NumDelivered == 1 {
			below = meta.Sequence.Stream
		}
		// Cached states may be stale now: another worker may have written
		// keys of p meanwhile, and events are published before the state
		// write that would find out. Every key is rebuilt from KV (and its
		// own batch) on its next message.
		pr.store.forgetAll()
		if !pr.catchUp(in.Partition, below, msg) {
			// Not caught up (stopping, or failing for long): leave this
			// message unacked, and catch up again on the next delivery.
			pr.parts.lost(in.Partition)
			return
		}
	}
	pr.sched.enqueue(in.Key, item{msg: msg})
}

// run is the scheduler's: it handles one item of key on the key's goroutine.
func (pr *processor) run(key string, it item) {
	switch {
	case it.commit:
		pr.commit(key)
	case it.msg == nil:
		pr.handleCatchUp(key, it.subject, it.ev)
	default:
		pr.handle(key, it.msg)
	}
}
