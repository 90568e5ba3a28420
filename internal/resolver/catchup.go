package resolver

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// catchUp queues, in stream order and ahead of anything new, the messages of
// partition p that were delivered to an earlier owner (a crashed or stopped
// worker, another worker before the partition moved, or this one before a
// restart) and not acknowledged. Without it a fresh message of a key could be
// applied before an older one of the same key that waits for redelivery.
//
// It walks (ack floor, last delivered] with direct gets filtered to the
// partition. Each message goes through its key's queue like any other, so one
// goroutine at a time touches a key; what the key's state already lists as
// applied is skipped, and the later redelivery of what it applies is
// recognised and only acked. Unreadable messages are left to the normal path,
// which dead-letters them. Called from p's consume callback, so nothing else
// of p is dispatched meanwhile. below, when not 0, bounds the walk to
// sequences under it.
func (w *Worker) catchUp(p int, below uint64) {
	ctx, cancel := context.WithTimeout(w.stopCtx, 10*time.Second)
	defer cancel()
	info, err := w.cons[p].Info(ctx)
	if err != nil {
		w.log.Warn("catch-up skipped: consumer info failed", "partition", p, "err", err)
		return
	}
	floor, last := info.AckFloor.Stream, info.Delivered.Stream
	if below > 0 && below-1 < last {
		last = below - 1
	}
	filter := events.InFilter(p, events.KindOperation)
	queued := 0
	for seq := floor + 1; seq <= last; {
		m, err := w.in.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			w.log.Warn("catch-up stopped early", "partition", p, "stream_seq", seq, "err", err)
			break
		}
		if m.Sequence > last {
			break
		}
		seq = m.Sequence + 1
		in, err := events.ParseStoredInSubject(m.Subject)
		if err != nil {
			continue
		}
		ev, err := DecodeEvidence(m.Header, m.Data, m.Sequence)
		if err != nil {
			continue
		}
		w.enqueue(in.Key, item{ev: ev, subject: m.Subject})
		queued++
	}
	if queued > 0 {
		w.log.Info("catching up on unacknowledged messages", "partition", p, "queued", queued, "ack_floor", floor, "delivered", last)
	}
}

// handleCatchUp applies one caught-up message (no ack: its own delivery, if
// any, is acked when it comes). Failures are left to that redelivery.
func (w *Worker) handleCatchUp(key, subject string, ev *Evidence) {
	o, err := w.process(w.stopCtx, key, subject, ev, true)
	if err != nil {
		if w.stopCtx.Err() == nil {
			w.log.Warn("catch-up of a message failed; its redelivery will retry", "key", key, "stream_seq", ev.Seq, "err", err)
		}
		return
	}
	w.settle(key, pendingEntry{ev: ev, subject: subject}, o)
}
