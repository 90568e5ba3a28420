package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/jsutil"
	"github.com/commsops/commsops/pkg/events"
)

// eventPublisher stores resolved events in COMMS_RESOLVED and stall checks
// scheduled into COMMS_IN (what Apply, CheckStall and StallSchedules decide),
// skipping the events a repeated application finds already stored. It holds
// no lock: a key's state is touched by the key's goroutine alone.
type eventPublisher struct {
	js       jetstream.JetStream
	resolved jetstream.Stream
	m        *metrics
	log      *slog.Logger
}

// publishTimeout bounds the wait for the acks of one publish: an ack lost
// with a stream leader (a node shut down) never comes, and the connection
// does not fail it unless it reconnects itself. The retry publishes again
// under the same message ids, so what was stored is not stored twice.
const publishTimeout = 5 * time.Second

// publish stores ems, all in one round trip, and waits for every ack, at
// most publishTimeout. With repeat, resolved events already stored after c's
// committed state are skipped. It advances c's ResolvedSeq past the events
// it stores.
func (p *eventPublisher) publish(ctx context.Context, c *cachedState, ems []Emission, repeat bool) error {
	if repeat && len(ems) > 0 {
		if c.published == nil {
			ids, err := p.publishedAfter(ctx, c.st.Key, c.st.ResolvedSeq)
			if err != nil {
				return err
			}
			c.published = ids
		}
		ems = slices.DeleteFunc(ems, func(em Emission) bool {
			return em.Kind == EmitResolved && c.published[em.ID]
		})
	}
	if len(ems) == 0 {
		return nil
	}
	var buf [4]jsutil.Pub // most messages decide one or two
	pubs := buf[:0]
	if len(ems) > len(buf) {
		pubs = make([]jsutil.Pub, 0, len(ems))
	}
	pubs = pubs[:len(ems)]
	for i, em := range ems {
		msg, opts, err := emissionMsg(em)
		if err != nil {
			return err
		}
		pubs[i] = jsutil.Pub{Msg: msg, Opts: opts}
	}
	acks, err := jsutil.PublishAllWithin(ctx, p.js, publishTimeout, pubs...)
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	for i, em := range ems {
		if em.Kind == EmitResolved {
			c.st.ResolvedSeq = max(c.st.ResolvedSeq, acks[i].Sequence)
			if c.published != nil {
				c.published[em.ID] = true
			}
		}
	}
	for _, em := range ems {
		p.record(em)
	}
	return nil
}

// publishedAfter returns the ids of key's resolved events stored after
// stream sequence after.
func (p *eventPublisher) publishedAfter(ctx context.Context, key string, after uint64) (map[string]bool, error) {
	filter := events.SubjectResolvedPrefix + key + ".*"
	ids := make(map[string]bool)
	for seq := after + 1; ; {
		m, err := p.resolved.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return ids, nil
		}
		if err != nil {
			return nil, fmt.Errorf("resolver: read published events of %s: %w", key, err)
		}
		ids[m.Header.Get(events.HeaderID)] = true
		seq = m.Sequence + 1
	}
}

// record counts and logs a stored resolved event.
func (p *eventPublisher) record(em Emission) {
	if em.Kind != EmitResolved {
		return
	}
	p.m.emittedEvent(em.Status)
	if em.Status != events.StatusStalled {
		p.m.resolve.Observe(time.Since(em.ResolvedAt).Seconds())
	}
	if p.log.Enabled(context.Background(), slog.LevelDebug) { // spares boxing the fields
		p.log.Debug("resolved event published", "client_context", em.ClientCtx, "status", em.Status, "event_id", em.ID)
	}
}
