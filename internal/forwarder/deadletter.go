package forwarder

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// publishControl reports whether a header is a JetStream publish assertion
// or control that must not be replayed on the copy. It is the resolver's
// rule (internal/resolver/deadletter.go), which is not exported: it belongs
// in a package both can share.
func publishControl(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "nats-expected-") || strings.HasPrefix(n, "nats-schedule") ||
		n == "nats-msg-id" || n == "nats-ttl" || n == "nats-rollup"
}

// deadLetter copies msg to COMMS_DLQ at comms.dlq.COMMS_RESOLVED.<key>
// with its headers and the resolver's Commsops-Dlq-* headers, then acks it
// (and dups), so that its key goes on. When the copy cannot be stored the
// message is nak'd for a redelivery instead, and it reports true: the key
// waits for it.
func (f *Forwarder) deadLetter(msg jetstream.Msg, key string, meta *jetstream.MsgMetadata, reason error, dups ...jetstream.Msg) (retry bool) {
	seq, delivered := meta.Sequence.Stream, meta.NumDelivered
	h := nats.Header{}
	for k, v := range msg.Headers() {
		if !publishControl(k) {
			h[k] = append([]string(nil), v...)
		}
	}
	if id := msg.Headers().Get(nats.MsgIdHdr); id != "" {
		h.Set(resolver.HeaderDLQMsgID, id)
	}
	h.Set(resolver.HeaderDLQReason, reason.Error())
	h.Set(resolver.HeaderDLQStream, events.StreamResolved)
	h.Set(resolver.HeaderDLQSubject, msg.Subject())
	h.Set(resolver.HeaderDLQSeq, strconv.FormatUint(seq, 10))
	h.Set(resolver.HeaderDLQDeliveries, strconv.FormatUint(delivered, 10))
	h.Set(resolver.HeaderDLQWorker, f.cfg.WorkerID)
	dl := &nats.Msg{Subject: subjects.DeadLetter(events.StreamResolved, key), Header: h, Data: msg.Data()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	log := f.log.With("key", key, "stream_seq", seq)
	// One copy per durable and event, however often this is tried.
	id := "dlq-" + events.StreamResolved + "-" + f.cfg.Durable + "-" + strconv.FormatUint(seq, 10)
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
