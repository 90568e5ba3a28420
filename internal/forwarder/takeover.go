package forwarder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/commsops/commsops/internal/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

// Hand-over. When the consumer is pinned to this replica under a new pin id
// (its first delivery, a crash or a shutdown of the previous holder, a
// re-pin), the consumer's unacknowledged range (ack floor, last delivered]
// may hold events of the previous holder: in flight, held behind others,
// nak'd for a retry. Each gets a placeholder in its key's queue, so the key's
// later events wait for it. A placeholder is resolved by the event's
// redelivery (it is then delivered in its place), by the ack floor passing
// it (the previous holder acked it), or, for takeover placeholders, when
// nothing is pending anywhere but here: every event the server counts as
// unacknowledged is one this replica holds, and it has nak'd nothing since
// (so the rest of the range was acked above the floor). The events this
// replica acked itself (acked.go) get no placeholder at all.

// takeover puts the placeholders of a new pin. trigger is the stream
// sequence of the delivery that showed the new pin (it is queued by the
// caller). Called from the consume callback: nothing else is dispatched
// meanwhile.
func (f *Forwarder) takeover(trigger uint64, pin string) error {
	ctx, cancel := context.WithTimeout(f.sendCtx, 10*time.Second)
	defer cancel()
	info, err := f.cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("forwarder: consumer info: %w", err)
	}
	floor, last := info.AckFloor.Stream, info.Delivered.Stream
	filter := subjects.ResolvedStatusFilter("")
	if len(f.cfg.Statuses) == 1 {
		filter = subjects.ResolvedStatusFilter(string(f.cfg.Statuses[0]))
	}
	var found []struct {
		key string
		seq uint64
	}
	for next := floor + 1; next <= last; {
		m, err := f.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("forwarder: read stream_seq %d on: %w", next, err)
		}
		if m.Sequence > last {
			break
		}
		next = m.Sequence + 1
		key, status, ok := parseSubject(m.Subject)
		if !ok || m.Sequence == trigger || (f.wanted != nil && !f.wanted[status]) {
			continue
		}
		found = append(found, struct {
			key string
			seq uint64
		}{key, m.Sequence})
	}
	n := 0
	f.mu.Lock()
	for _, p := range found {
		if !f.acked.has(p.seq) && f.placeholdLocked(p.key, p.seq) {
			n++
		}
	}
	f.mu.Unlock()
	f.log.Info("holding the durable", "pin", pin, "ack_floor", floor, "delivered", last, "placeholders", n)
	if n > 0 {
		f.poke()
	}
	return nil
}

// poke asks the floor loop to look now.
func (f *Forwarder) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// watchFloor resolves placeholders from the consumer's state, every
// FloorPoll while there are any, and refreshes the lag gauge at least every
// 5s, until ctx ends.
func (f *Forwarder) watchFloor(ctx context.Context) {
	t := time.NewTicker(f.cfg.FloorPoll)
	defer t.Stop()
	var lagAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.wake:
		}
		f.mu.Lock()
		waiting, naks := f.placeholders, f.naks
		f.mu.Unlock()
		if waiting == 0 && time.Since(lagAt) < 5*time.Second {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := f.cons.Info(ictx)
		cancel()
		if err != nil {
			continue
		}
		lagAt = time.Now()
		f.m.lag.Set(float64(info.NumPending) + float64(info.NumAckPending))
		if waiting > 0 {
			f.resolve(info, naks)
		}
	}
}

// resolve drops the placeholders that info shows settled elsewhere and
// starts the keys they held. naks is f.naks read before info was.
func (f *Forwarder) resolve(info *jetstream.ConsumerInfo, naks uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	floor, last := info.AckFloor.Stream, info.Delivered.Stream
	// Every event pending on the server is one held here: the placeholders
	// of a takeover were acked. Events delivered after info was read are
	// left out of the count (seq > last); a nak since then, or a retry
	// placeholder, means an event pending elsewhere.
	retries := 0
	for _, q := range f.keys {
		for _, e := range q.items {
			if e.msg == nil && !e.takeover {
				retries++
			}
		}
	}
	_, here := f.heldLocked(last)
	allAcked := f.naks == naks && retries == 0 && here == info.NumAckPending
	for key, q := range f.keys {
		q.items = slices.DeleteFunc(q.items, func(e *entry) bool {
			drop := e.msg == nil && (e.seq <= floor || (allAcked && e.takeover && e.seq <= last))
			if drop {
				f.placeholders--
			}
			return drop
		})
		f.kickLocked(key, q)
	}
}

// keepAlive tells the server every AckWait/3 that the deliveries this
// replica holds (queued behind others or in flight) are in progress, so
// that none is redelivered while it waits its turn, until ctx ends.
func (f *Forwarder) keepAlive(ctx context.Context) {
	t := time.NewTicker(max(f.cfg.AckWait/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		var msgs []jetstream.Msg
		held := 0
		for _, q := range f.keys {
			for _, e := range q.items {
				if e.msg != nil {
					msgs = append(msgs, e.msg)
					if !e.busy {
						held++
					}
				}
			}
		}
		f.mu.Unlock()
		f.m.held.Set(float64(held))
		for _, m := range msgs {
			_ = m.InProgress()
		}
	}
}
