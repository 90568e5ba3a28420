package forwarder

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/deadletter"
	"github.com/commsops/commsops/pkg/events"
)

// deadLetter copies msg to COMMS_DLQ at comms.dlq.COMMS_RESOLVED.<key>
// with its headers and the resolver's Commsops-Dlq-* headers, then acks it
// (and dups), so that its key goes on. When the copy cannot be stored the
// message is nak'd for a redelivery instead, and it reports true: the key
// waits for it.
func (f *Forwarder) deadLetter(msg jetstream.Msg, key string, meta *jetstream.MsgMetadata, reason error, dups ...jetstream.Msg) (retry bool) {
	dl, seq, delivered := deadletter.Copy(msg, events.StreamResolved, key, f.cfg.WorkerID, reason)
	if seq == 0 {
		seq, delivered = meta.Sequence.Stream, meta.NumDelivered
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	log := f.log.With("key", key, "stream_seq", seq)
	// One copy per durable and event, however often this is tried.
	id := deadletter.MsgID(events.StreamResolved, f.cfg.Durable, seq)
	if _, err := f.js.PublishMsg(ctx, dl, jetstream.WithMsgID(id)); err != nil {
		log.Error("dead-letter copy failed; leaving the event for redelivery", "err", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return true
	}
	f.m.deadLettered.Inc()
	if err := msg.DoubleAck(ctx); err != nil {
		log.Warn("ack of a dead-lettered event failed", "err", err)
	} else {
		f.mu.Lock()
		f.acked.add(seq)
		f.mu.Unlock()
	}
	for _, d := range dups {
		_ = d.Ack()
	}
	log.Warn("event dead-lettered", "reason", reason.Error(), "deliveries", delivered)
	return false
}
