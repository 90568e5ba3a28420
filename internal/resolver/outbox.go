package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// flush publishes the outbox of a state written by an earlier version (which
// wrote decided events to the state before publishing them) and empties it
// in memory. Each entry may already have been published: it is checked
// against the last event on its subject, which is exact for such a state
// because nothing reached the key's subjects after its outbox was written.
func (w *Worker) flush(ctx context.Context, st *KeyState) error {
	for len(st.Outbox) > 0 {
		em := st.Outbox[0]
		published, err := w.alreadyPublished(ctx, em)
		if err != nil {
			return err
		}
		if !published {
			msg, opts, err := w.outboxMsg(em)
			if err != nil {
				return err
			}
			if _, err := w.js.PublishMsg(ctx, msg, opts...); err != nil {
				return fmt.Errorf("resolver: publish %s: %w", em.Subject, err)
			}
			w.published(em)
		}
		st.Outbox = st.Outbox[1:]
	}
	st.Outbox = nil
	return nil
}

// published records a stored outbox entry in metrics and logs.
func (w *Worker) published(em Emission) {
	if em.Kind != EmitResolved {
		return
	}
	w.m.emitted.WithLabelValues(em.Status.Token()).Inc()
	if em.Status != events.StatusStalled {
		w.m.resolve.Observe(time.Since(em.ResolvedAt).Seconds())
	}
	if w.log.Enabled(context.Background(), slog.LevelDebug) { // spares boxing the fields
		w.log.Debug("resolved event published", "client_context", em.ClientCtx, "status", em.Status, "event_id", em.ID)
	}
}

func (w *Worker) alreadyPublished(ctx context.Context, em Emission) (bool, error) {
	stream := w.resolved
	if em.Kind == EmitStallSchedule {
		stream = w.in
	}
	m, err := stream.GetLastMsgForSubject(ctx, em.Subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("resolver: check %s: %w", em.Subject, err)
	}
	return m.Header.Get(events.HeaderID) == em.ID, nil
}

// outboxMsg returns the message and publish options of an outbox entry: a
// resolved event to COMMS_RESOLVED, or a stall check scheduled into COMMS_IN.
// Either carries its id as Nats-Msg-Id.
//
// An entry that cannot be encoded never will be: the error wraps errNoRetry.
func (w *Worker) outboxMsg(em Emission) (*nats.Msg, []jetstream.PublishOpt, error) {
	if em.Kind == EmitStallSchedule {
		msg, err := stallCheckMsg(em)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errNoRetry, err)
		}
		return msg, []jetstream.PublishOpt{jetstream.WithMsgID(em.ID), jetstream.WithExpectStream(events.StreamIn),
			jetstream.WithScheduleAt(em.At), jetstream.WithScheduleTarget(em.Target)}, nil
	}
	msg, err := EmissionMsg(em)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errNoRetry, err)
	}
	return msg, []jetstream.PublishOpt{jetstream.WithMsgID(em.ID), jetstream.WithExpectStream(events.StreamResolved)}, nil
}

// EmissionMsg returns the CloudEvents binary-mode NATS message of a resolved
// event: type io.commsops.operation.<status>, subject the clientContext,
// source /communications/calls/<callId>, time resolvedAt. The headers are
// those events.EncodeMsg writes for that event, built without the SDK's event
// (TestEmissionMsgMatchesEncodeMsg compares them).
func EmissionMsg(em Emission) (*nats.Msg, error) {
	callID := em.CallID
	if callID == "" {
		callID = "unknown"
	}
	return events.EncodeJSONMsg(em.Subject, em.Data, []string{
		events.HeaderID, em.ID,
		events.HeaderSource, events.ResolvedSource(callID),
		events.HeaderType, events.ResolvedType(em.Status),
		events.HeaderSubject, em.ClientCtx,
		events.HeaderTime, events.TimeAttr(em.ResolvedAt),
		extHeader(events.ExtTraceParent), em.TraceParent,
	}...)
}

// stallCheckMsg returns the stall check message of a schedule entry.
func stallCheckMsg(em Emission) (*nats.Msg, error) {
	return events.EncodeJSONMsg(em.Subject, []byte("{}"), []string{
		events.HeaderID, em.ID,
		events.HeaderSource, "/commsops/resolver",
		events.HeaderType, events.TypeStallCheck,
		events.HeaderSubject, em.ClientCtx,
		events.HeaderTime, events.TimeAttr(em.At),
		extHeader(events.ExtSlot), em.Slot,
		extHeader(events.ExtNewsSeq), strconv.FormatUint(em.NewsSeq, 10),
	}...)
}

func extHeader(name string) string { return "ce-" + name }
