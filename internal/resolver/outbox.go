package resolver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
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
	w.log.Debug("resolved event published", "client_context", em.ClientCtx, "status", em.Status, "event_id", em.ID)
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
func (w *Worker) outboxMsg(em Emission) (*nats.Msg, []jetstream.PublishOpt, error) {
	if em.Kind == EmitStallSchedule {
		msg, err := stallCheckMsg(em)
		return msg, []jetstream.PublishOpt{jetstream.WithMsgID(em.ID), jetstream.WithExpectStream(events.StreamIn),
			jetstream.WithScheduleAt(em.At), jetstream.WithScheduleTarget(em.Target)}, err
	}
	msg, err := EmissionMsg(em)
	return msg, []jetstream.PublishOpt{jetstream.WithMsgID(em.ID), jetstream.WithExpectStream(events.StreamResolved)}, err
}

// EmissionMsg returns the CloudEvents binary-mode NATS message of a resolved
// event: type io.commsops.operation.<status>, subject the clientContext,
// source /communications/calls/<callId>, time resolvedAt.
func EmissionMsg(em Emission) (*nats.Msg, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(em.ID)
	e.SetType(events.ResolvedType(em.Status))
	callID := em.CallID
	if callID == "" {
		callID = "unknown"
	}
	e.SetSource(events.ResolvedSource(callID))
	if em.ClientCtx != "" {
		e.SetSubject(em.ClientCtx)
	}
	e.SetTime(em.ResolvedAt)
	if em.TraceParent != "" {
		e.SetExtension(events.ExtTraceParent, em.TraceParent)
	}
	if err := e.SetData(events.ContentTypeJSON, []byte(em.Data)); err != nil {
		return nil, fmt.Errorf("resolver: event data: %w", err)
	}
	return events.EncodeMsg(em.Subject, e)
}

// stallCheckMsg returns the stall check message of a schedule entry.
func stallCheckMsg(em Emission) (*nats.Msg, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(em.ID)
	e.SetType(events.TypeStallCheck)
	e.SetSource("/commsops/resolver")
	if em.ClientCtx != "" {
		e.SetSubject(em.ClientCtx)
	}
	e.SetTime(em.At)
	e.SetExtension(events.ExtSlot, em.Slot)
	e.SetExtension(events.ExtNewsSeq, strconv.FormatUint(em.NewsSeq, 10))
	if err := e.SetData(events.ContentTypeJSON, []byte("{}")); err != nil {
		return nil, fmt.Errorf("resolver: stall check: %w", err)
	}
	return events.EncodeMsg(em.Subject, e)
}
