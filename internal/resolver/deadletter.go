package resolver

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// Headers added to a dead-lettered copy; the original headers are kept.
const (
	HeaderDLQReason     = "Commsops-Dlq-Reason"
	HeaderDLQStream     = "Commsops-Dlq-Stream"
	HeaderDLQSubject    = "Commsops-Dlq-Subject"
	HeaderDLQSeq        = "Commsops-Dlq-Stream-Seq"
	HeaderDLQDeliveries = "Commsops-Dlq-Deliveries"
	HeaderDLQWorker     = "Commsops-Dlq-Worker"
	HeaderDLQMsgID      = "Commsops-Dlq-Msg-Id" // the original Nats-Msg-Id
)

// publishControl reports whether a header is a JetStream publish assertion or
// control (Nats-Expected-*, Nats-Msg-Id, Nats-TTL, Nats-Rollup, Nats-Schedule*)
// that must not be replayed on the copy: it would make the copy's publish fail
// or behave differently.
func publishControl(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "nats-expected-") || strings.HasPrefix(n, "nats-schedule") ||
		n == "nats-msg-id" || n == "nats-ttl" || n == "nats-rollup"
}

// deadLetter copies msg to COMMS_DLQ with the reason, its original subject,
// headers and stream sequence, then terminates it so it is never redelivered.
// When the copy cannot be stored the message is left for redelivery instead:
// nothing acknowledged is lost.
func (w *Worker) deadLetter(msg jetstream.Msg, key string, reason error) {
	meta, _ := msg.Metadata()
	var seq, delivered uint64
	if meta != nil {
		seq, delivered = meta.Sequence.Stream, meta.NumDelivered
	}
	if key == "" {
		key = "unknown"
	}
	h := nats.Header{}
	for k, v := range msg.Headers() {
		if !publishControl(k) {
			h[k] = append([]string(nil), v...)
		}
	}
	if id := msg.Headers().Get(nats.MsgIdHdr); id != "" {
		h.Set(HeaderDLQMsgID, id)
	}
	h.Set(HeaderDLQReason, reason.Error())
	h.Set(HeaderDLQStream, events.StreamIn)
	h.Set(HeaderDLQSubject, msg.Subject())
	h.Set(HeaderDLQSeq, strconv.FormatUint(seq, 10))
	h.Set(HeaderDLQDeliveries, strconv.FormatUint(delivered, 10))
	h.Set(HeaderDLQWorker, w.cfg.WorkerID)
	dl := &nats.Msg{Subject: subjects.DeadLetter(events.StreamIn, key), Header: h, Data: msg.Data()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	log := w.log.With("key", key, "stream_seq", seq)
	if _, err := w.js.PublishMsg(ctx, dl, jetstream.WithMsgID("dlq-"+events.StreamIn+"-"+strconv.FormatUint(seq, 10))); err != nil {
		log.Error("dead-letter copy failed; leaving the message for redelivery", "err", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	if err := msg.TermWithReason(reason.Error()); err != nil {
		log.Warn("terminate failed", "err", err)
	}
	w.m.deadLetter.Inc()
	w.m.messages.WithLabelValues("deadlettered").Inc()
	log.Warn("message dead-lettered", "reason", reason.Error(), "deliveries", delivered)
}
