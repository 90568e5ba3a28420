package resolver

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/deadletter"
	"github.com/commsops/commsops/pkg/events"
)

// deadLetter copies msg to COMMS_DLQ with the reason, its original subject,
// headers and stream sequence, then terminates it so it is never redelivered.
// When the copy cannot be stored the message is left for redelivery instead:
// nothing acknowledged is lost.
func (pr *processor) deadLetter(msg jetstream.Msg, key string, reason error) {
	dl, seq, delivered := deadletter.Copy(msg, events.StreamIn, key, pr.cfg.WorkerID, reason)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	log := pr.log.With("key", key, "stream_seq", seq)
	if _, err := pr.js.PublishMsg(ctx, dl, jetstream.WithMsgID(deadletter.MsgID(events.StreamIn, "", seq))); err != nil {
		log.Error("dead-letter copy failed; leaving the message for redelivery", "err", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	if err := msg.TermWithReason(reason.Error()); err != nil {
		log.Warn("terminate failed", "err", err)
	}
	pr.m.deadLetter.Inc()
	pr.m.messages.WithLabelValues("deadlettered").Inc()
	log.Warn("message dead-lettered", "reason", reason.Error(), "deliveries", delivered)
}
