package resolver

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/pkg/events"
)

// Evidence is one piece of information about an operation, taken from a
// COMMS_IN event.
type Evidence struct {
	Seq        uint64
	Kind       events.SourceKind
	ReceivedAt time.Time
	EventID    string

	CallID           string
	OpID             string // normalised; "" when null or unknown
	ODataType        string
	Status           events.Status // "" when the evidence reports none
	ResultInfo       *events.ResultInfo
	CompletionReason string
	ClientContext    string
	Extra            map[string]json.RawMessage
	// HTTPStatus is the action response's status (responses only).
	HTTPStatus int
	// TraceParent is the W3C trace context the evidence was ingested with.
	TraceParent string
	// Slot and NewsSeq identify what a stall check is about (stall checks only).
	Slot    string
	NewsSeq uint64
}

// DecodeEvidence reads the CloudEvent of a COMMS_IN message at stream sequence
// seq. It returns an error wrapping ErrPoison when the message can never be
// processed (not a CloudEvent, an unknown type, invalid data).
func DecodeEvidence(h nats.Header, data []byte, seq uint64) (*Evidence, error) {
	e, err := events.DecodeMsg(h, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPoison, err)
	}
	return EvidenceFromEvent(e, seq)
}

// EvidenceFromEvent is DecodeEvidence for an already decoded CloudEvent.
func EvidenceFromEvent(e event.Event, seq uint64) (*Evidence, error) {
	ev := &Evidence{Seq: seq, ReceivedAt: e.Time().UTC(), EventID: e.ID()}
	if tp, ok := e.Extensions()[events.ExtTraceParent].(string); ok {
		ev.TraceParent = tp
	}
	switch e.Type() {
	case events.TypeOperationNotification:
		ev.Kind = events.SourceNotification
		n, err := events.ParseNotificationItem(e.Data())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPoison, err)
		}
		ev.CallID, ev.OpID = n.Path.CallID, n.Path.OperationID
		if len(n.Resources) > 0 {
			op, err := events.ParseOperation(n.Resources[0])
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrPoison, err)
			}
			ev.fromOperation(op)
		}
	case events.TypeActionResponse:
		ev.Kind = events.SourceResponse
		r, err := events.ParseActionResponse(e.Data())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPoison, err)
		}
		ev.CallID, ev.ClientContext, ev.HTTPStatus = r.NormalizedCallID(), r.ClientContext, r.HTTPStatus
		ev.ODataType = events.OperationTypeForAction(r.Action)
		if r.Op != nil {
			ev.fromOperation(r.Op)
		} else if r.HTTPStatus >= 400 {
			// The action was refused: no operation exists and nothing will follow.
			ev.Status = events.StatusFailed
			ev.ResultInfo = &events.ResultInfo{Code: r.HTTPStatus,
				Message: fmt.Sprintf("the %s action was refused with HTTP %d", r.Action, r.HTTPStatus)}
			ev.CompletionReason = "actionRefused"
		}
	case events.TypeStallCheck:
		ev.Kind = events.SourceStallTimer
		ext := e.Extensions()
		slot, _ := ext[events.ExtSlot].(string)
		news, _ := ext[events.ExtNewsSeq].(string)
		n, err := strconv.ParseUint(news, 10, 64)
		if slot == "" || err != nil {
			return nil, fmt.Errorf("%w: stall check without %s/%s", ErrPoison, events.ExtSlot, events.ExtNewsSeq)
		}
		ev.Slot, ev.NewsSeq = slot, n
	default:
		return nil, fmt.Errorf("%w: event type %q is not operation evidence", ErrPoison, e.Type())
	}
	return ev, nil
}

func (ev *Evidence) fromOperation(op *events.Operation) {
	if op.ID != "" {
		ev.OpID = op.ID
	}
	if op.ODataType != "" {
		ev.ODataType = op.ODataType
	}
	if op.ClientContext != "" {
		ev.ClientContext = op.ClientContext
	}
	ev.Status, ev.ResultInfo, ev.CompletionReason, ev.Extra = op.Status, op.ResultInfo, op.CompletionReason, op.Extra
}
