package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/jsutil"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// catchUp queues on their keys, in stream order, partition p's messages
// delivered to an earlier owner and not acked, below below (0: no bound);
// see doc.go, "Catch-up". trigger, the delivery that started it (nil: none),
// is kept from redelivery meanwhile. It reports false when the walk did not
// finish (stopping, or failing for half the pin's TTL).
func (pr *processor) catchUp(p int, below uint64, trigger jetstream.Msg) (done bool) {
	filter := subjects.InFilter(p, string(graphwire.KindOperation))
	var last, next uint64 // the walk: next up to last, once the range is read
	queued := 0
	// The logger is built only when something is logged.
	log := sync.OnceValue(func() *slog.Logger { return pr.log.With("partition", p, "step", "catch-up") })
	// A failure is waited out, the delivery that started the catch-up kept
	// alive: until the walk is done nothing new of p is dispatched, since
	// this runs in p's consume callback. Not for longer than half the pin's
	// TTL, though: a callback blocked longer loses the pin, and the walk is
	// tried again on a later delivery.
	giveUpAt := time.Now().Add(pr.cfg.PinnedTTL / 2)
	err := pr.waitOut("", trigger, log, func(attempt int) error {
		if attempt > 1 && time.Now().After(giveUpAt) {
			return fmt.Errorf("%w: catch-up failing for %v", errNoRetry, pr.cfg.PinnedTTL/2)
		}
		ctx, cancel := context.WithTimeout(pr.stopCtx, 10*time.Second)
		defer cancel()
		if next == 0 {
			info, err := pr.parts.consumer(p).Info(ctx)
			if err != nil {
				return fmt.Errorf("resolver: consumer info: %w", err)
			}
			last = info.Delivered.Stream
			if below > 0 && below-1 < last {
				last = below - 1
			}
			next = info.AckFloor.Stream + 1
		}
		for next <= last {
			// From the leader: a replica (direct get) may be behind it and
			// miss a message, which would end the walk early.
			m, err := jsutil.LeaderGet(ctx, pr.js, events.StreamIn, jsutil.LeaderGetRequest{Seq: next, NextBySubject: filter})
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				return fmt.Errorf("resolver: read stream_seq %d on: %w", next, err)
			}
			if m.Sequence > last {
				break
			}
			next = m.Sequence + 1
			in, err := subjects.ParseStoredIn(m.Subject)
			if err != nil {
				continue
			}
			ev, err := DecodeEvidence(m.Header, m.Data, m.Sequence)
			if err != nil {
				continue
			}
			pr.sched.enqueue(in.Key, item{ev: ev, subject: m.Subject})
			queued++
		}
		return nil
	})
	if queued > 0 {
		log().Info("catching up on unacknowledged messages", "queued", queued, "delivered", last)
	}
	if err != nil {
		log().Warn("catch-up not finished; the partition's deliveries are left unacknowledged until it is", "err", err)
		return false
	}
	return true
}

// catchUpTakenOver is catchUp for a partition this worker took over from a
// dead member: the cached states may be stale (this worker may have held the
// partition before the member did), so every key is rebuilt from the bucket
// first, as after any new pin.
func (pr *processor) catchUpTakenOver(p int, below uint64) {
	pr.store.forgetAll()
	pr.catchUp(p, below, nil)
}

// handleCatchUp applies one caught-up message into the key's batch (no ack:
// its own delivery is acked when it comes); failures are classified as for
// any message, one that cannot pass left to the message's own redelivery.
func (pr *processor) handleCatchUp(key, subject string, ev *Evidence) {
	var o outcome
	log := func() *slog.Logger { // only on failure
		return pr.log.With("key", key, "stream_seq", ev.Seq, "step", "catch-up of a message")
	}
	err := pr.waitOut(key, nil, log, func(int) error {
		var err error
		o, err = pr.process(pr.stopCtx, key, subject, ev, true)
		return err
	})
	switch {
	case err == nil:
		pr.settle(key, pendingEntry{ev: ev, subject: subject}, o)
	case pr.classify(err) == failGiveUp:
		log().Warn("catch-up of a message failed; its redelivery will retry", "err", err)
	default:
		pr.abandon(key) // stopping
	}
}
