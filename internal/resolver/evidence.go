package resolver

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/stallcheck"
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
//
// Messages as the codec writes them (lower-case ce- headers, a valid
// required set) are read straight from their headers; anything else goes
// through events.DecodeMsg, which accepts or refuses it the same way.
func DecodeEvidence(h nats.Header, data []byte, seq uint64) (*Evidence, error) {
	if a, ok := plainAttributes(h); ok {
		return evidenceFrom(a, data, seq)
	}
	e, err := events.DecodeMsg(h, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPoison, err)
	}
	return EvidenceFromEvent(e, seq)
}

// attributes are the CloudEvents attributes the resolver reads.
type attributes = cehdr.Attributes

// plainAttributes reads the attributes from headers the codec wrote (see
// cehdr.ReadAttributes; ok false: decode fully).
func plainAttributes(h nats.Header) (attributes, bool) { return cehdr.ReadAttributes(h) }

// EvidenceFromEvent is DecodeEvidence for an already decoded CloudEvent.
func EvidenceFromEvent(e event.Event, seq uint64) (*Evidence, error) {
	a := attributes{ID: e.ID(), Type: e.Type(), Time: e.Time().UTC()}
	ext := e.Extensions()
	a.TraceParent, _ = ext[events.ExtTraceParent].(string)
	a.Slot, _ = ext[stallcheck.ExtSlot].(string)
	a.NewsSeq, _ = ext[stallcheck.ExtNewsSeq].(string)
	return evidenceFrom(a, e.Data(), seq)
}

func evidenceFrom(a attributes, data []byte, seq uint64) (*Evidence, error) {
	if y := a.Time.Year(); y < 0 || y > 9999 {
		// The state and the resolved event could not carry it (RFC 3339).
		return nil, fmt.Errorf("%w: %s %v is outside the years 0 through 9999", ErrPoison, events.HeaderTime, a.Time)
	}
	ev := &Evidence{Seq: seq, ReceivedAt: a.Time, EventID: a.ID, TraceParent: a.TraceParent}
	switch a.Type {
	case events.TypeOperationNotification:
		ev.Kind = events.SourceNotification
		n, op, err := graphwire.ParseOperationNotification(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPoison, err)
		}
		ev.CallID, ev.OpID = n.Path.CallID, n.Path.OperationID
		if op != nil {
			ev.fromOperation(op)
		}
	case events.TypeActionResponse:
		ev.Kind = events.SourceResponse
		r, err := graphwire.ParseActionResponse(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPoison, err)
		}
		ev.CallID, ev.ClientContext, ev.HTTPStatus = r.NormalizedCallID(), r.ClientContext, r.HTTPStatus
		ev.ODataType = graphwire.OperationTypeForAction(r.Action)
		if r.Op != nil {
			ev.fromOperation(r.Op)
		} else if r.HTTPStatus >= 400 {
			// The action was refused: no operation exists and nothing will follow.
			ev.Status = events.StatusFailed
			ev.ResultInfo = &events.ResultInfo{Code: r.HTTPStatus,
				Message: fmt.Sprintf("the %s action was refused with HTTP %d", r.Action, r.HTTPStatus)}
			ev.CompletionReason = "actionRefused"
		}
	case stallcheck.Type:
		ev.Kind = events.SourceStallTimer
		n, err := strconv.ParseUint(a.NewsSeq, 10, 64)
		if a.Slot == "" || err != nil {
			return nil, fmt.Errorf("%w: stall check without %s/%s", ErrPoison, stallcheck.ExtSlot, stallcheck.ExtNewsSeq)
		}
		ev.Slot, ev.NewsSeq = a.Slot, n
	default:
		return nil, fmt.Errorf("%w: event type %q is not operation evidence", ErrPoison, a.Type)
	}
	return ev, nil
}

func (ev *Evidence) fromOperation(op *graphwire.Operation) {
	if op.ID != "" {
		ev.OpID = op.ID
	}
	if op.ODataType != "" {
		ev.ODataType = op.ODataType
	}
	if op.ClientContext != "" {
		ev.ClientContext = op.ClientContext
	}
	ev.Status, ev.ResultInfo, ev.CompletionReason, ev.Extra = events.Status(op.Status), (*events.ResultInfo)(op.ResultInfo), op.CompletionReason, op.Extra
}
