package resolver

import (
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/stallcheck"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// emissionMsg returns the message and publish options of an emission: a
// resolved event to COMMS_RESOLVED, or a stall check scheduled into COMMS_IN.
// Either carries its id as Nats-Msg-Id. An emission that cannot be encoded
// never will be: the error wraps errNoRetry.
func emissionMsg(em Emission) (*nats.Msg, []jetstream.PublishOpt, error) {
	if em.Kind == EmitStallSchedule {
		msg, err := stallCheckMsg(em)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errNoRetry, err)
		}
		return msg, []jetstream.PublishOpt{jetstream.WithMsgID(em.ID), expectStreamIn,
			jetstream.WithScheduleAt(em.At), jetstream.WithScheduleTarget(em.Target)}, nil
	}
	msg, err := EmissionMsg(em)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errNoRetry, err)
	}
	return msg, []jetstream.PublishOpt{jetstream.WithMsgID(em.ID), expectStreamResolved}, nil
}

// The publish options and headers every emission of a kind shares, made once.
var (
	expectStreamIn       = jetstream.WithExpectStream(events.StreamIn)
	expectStreamResolved = jetstream.WithExpectStream(events.StreamResolved)

	headerTraceParent = extHeader(events.ExtTraceParent)
	headerSlot        = extHeader(stallcheck.ExtSlot)
	headerNewsSeq     = extHeader(stallcheck.ExtNewsSeq)
)

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
	return cehdr.EncodeJSONMsg(em.Subject, em.Data,
		events.HeaderID, em.ID,
		events.HeaderSource, subjects.ResolvedSource(callID),
		events.HeaderType, subjects.ResolvedType(string(em.Status)),
		events.HeaderSubject, em.ClientCtx,
		events.HeaderTime, cehdr.TimeAttr(em.ResolvedAt),
		headerTraceParent, em.TraceParent,
	)
}

// stallCheckMsg returns the stall check message of a schedule emission.
func stallCheckMsg(em Emission) (*nats.Msg, error) {
	return cehdr.EncodeJSONMsg(em.Subject, []byte("{}"),
		events.HeaderID, em.ID,
		events.HeaderSource, "/commsops/resolver",
		events.HeaderType, stallcheck.Type,
		events.HeaderSubject, em.ClientCtx,
		events.HeaderTime, cehdr.TimeAttr(em.At),
		headerSlot, em.Slot,
		headerNewsSeq, strconv.FormatUint(em.NewsSeq, 10),
	)
}

func extHeader(name string) string { return "ce-" + name }
