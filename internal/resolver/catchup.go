package resolver

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// catchUp applies, in stream order, the messages of partition p that were
// delivered to an earlier owner (a crashed or stopped worker, or this one
// before a restart) and never acknowledged, before this worker consumes
// anything new from p. Without it a fresh message of a key could be applied
// before an older one of the same key that waits for its redelivery.
//
// It walks (ack floor, last delivered] with direct gets filtered to the
// partition; messages the key's state already lists as applied are skipped,
// the rest are applied now, and their redelivery later finds them applied and
// only acks them. Unreadable messages are left to the normal path, which
// dead-letters them. Returns how many messages it applied.
func (w *Worker) catchUp(ctx context.Context, p int, info *jetstream.ConsumerInfo) (int, error) {
	floor, last := info.AckFloor.Stream, info.Delivered.Stream
	if last <= floor {
		return 0, nil
	}
	filter := events.InFilter(p, events.KindOperation)
	applied := 0
	for seq := floor + 1; seq <= last; {
		m, err := w.in.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return applied, fmt.Errorf("resolver: catch up partition %d at %d: %w", p, seq, err)
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
		var perr error
		for attempt := 1; attempt <= w.cfg.MaxAttempts; attempt++ {
			if perr = w.process(ctx, in.Key, ev); perr == nil || !errors.Is(perr, ErrFenced) {
				break
			}
		}
		if perr != nil {
			return applied, fmt.Errorf("resolver: catch up partition %d: %w", p, perr)
		}
		applied++
	}
	return applied, nil
}
