package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Inbound is one event to store in COMMS_IN: its publish subject and the
// CloudEvent. Event.ID() is content-derived and doubles as the Nats-Msg-Id, so
// the same resource or response stored twice within the stream's duplicate
// window is kept once.
type Inbound struct {
	Subject string
	Kind    Kind
	Key     string
	Event   event.Event
}

// InboundOptions carries what the transport knows about a delivery.
type InboundOptions struct {
	// ReceivedAt becomes the event time; zero means now.
	ReceivedAt time.Time
	// MessageID is X-Microsoft-Skype-Message-ID when present; kept as an
	// extension attribute for tracing deliveries.
	MessageID string
	// TraceParent is a W3C traceparent to carry in the distributed-tracing extension.
	TraceParent string
}

// NotificationEvents splits a parsed callback into one Inbound per resource
// (one per element of an array resourceData; one for an item without
// resourceData). Operation resources are keyed by OperationKey and everything
// else by CallKey. The event data is the commsNotification item with
// resourceData narrowed to that one resource.
func NotificationEvents(n *Notifications, o InboundOptions) ([]Inbound, error) {
	at := receivedAt(o)
	out := make([]Inbound, 0, len(n.Items))
	for i, item := range n.Items {
		resources := item.Resources
		if len(resources) == 0 {
			resources = []json.RawMessage{nil}
		}
		for j, res := range resources {
			in, err := notificationEvent(item, res, item.ResourceDataIsArray, at, o)
			if err != nil {
				return nil, fmt.Errorf("value[%d] resource %d: %w", i, j, err)
			}
			in.Event.SetExtension(ExtItemIndex, strconv.Itoa(i)+"."+strconv.Itoa(j))
			out = append(out, in)
		}
	}
	return out, nil
}

func notificationEvent(item Notification, res json.RawMessage, narrow bool, at time.Time, o InboundOptions) (Inbound, error) {
	var (
		kind = KindOther
		op   *Operation
		err  error
	)
	if res != nil {
		kind = ResourceKind(resourceType(res), item.Path)
	} else if item.Path.IsOperation {
		kind = KindOperation
	}
	callID := item.Path.CallID
	data := []byte(item.Raw)
	if narrow {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(item.Raw, &fields); err != nil {
			return Inbound{}, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
		}
		fields["resourceData"] = res
		if data, err = json.Marshal(fields); err != nil {
			return Inbound{}, err
		}
	}
	e := event.New(event.CloudEventsVersionV1)
	var key string
	switch kind {
	case KindOperation:
		if res != nil {
			if op, err = parseOperation(res); err != nil {
				return Inbound{}, err
			}
		} else {
			op = &Operation{}
		}
		opID := op.ID
		if opID == "" {
			opID = item.Path.OperationID
		}
		key = OperationKey(op.ClientContext, callID, opID)
		setExt(&e, ExtOperationID, opID)
		setExt(&e, ExtClientContext, op.ClientContext)
		subject := op.ClientContext
		if subject == "" {
			subject = callID
		}
		e.SetSubject(subject)
		e.SetType(TypeOperationNotification)
	default:
		key = CallKey(callID)
		e.SetSubject(callID)
		e.SetType(notificationType(kind))
	}
	setExt(&e, ExtCallID, callID)
	setExt(&e, ExtChangeType, item.ChangeType)
	setExt(&e, ExtMessageID, o.MessageID)
	setExt(&e, ExtTraceParent, o.TraceParent)
	e.SetID("n-" + contentID(res, string(kind), callID, item.ChangeType, item.ResourceURL))
	e.SetSource(callSource(callID))
	e.SetTime(at)
	if err := e.SetData(ContentTypeJSON, data); err != nil {
		return Inbound{}, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	return Inbound{Subject: InSubject(kind, key), Kind: kind, Key: key, Event: e}, nil
}

func notificationType(k Kind) string {
	switch k {
	case KindOperation:
		return TypeOperationNotification
	case KindCall:
		return TypeCallNotification
	case KindParticipant:
		return TypeParticipantNotification
	}
	return TypeOtherNotification
}

// ResponseEvent returns the Inbound for a validated action response. body is
// the envelope as received; it becomes the event data unchanged.
func ResponseEvent(r *ParsedResponse, body []byte, o InboundOptions) (Inbound, error) {
	callID := r.NormalizedCallID()
	opID := ""
	if r.Op != nil {
		opID = r.Op.ID
	}
	key := OperationKey(r.ClientContext, callID, opID)
	e := event.New(event.CloudEventsVersionV1)
	e.SetID("r-" + contentID(body, "response"))
	e.SetType(TypeActionResponse)
	e.SetSource(callSource(callID))
	subject := r.ClientContext
	if subject == "" {
		subject = callID
	}
	e.SetSubject(subject)
	e.SetTime(receivedAt(o))
	setExt(&e, ExtCallID, callID)
	setExt(&e, ExtOperationID, opID)
	setExt(&e, ExtClientContext, r.ClientContext)
	setExt(&e, ExtTraceParent, o.TraceParent)
	if err := e.SetData(ContentTypeJSON, body); err != nil {
		return Inbound{}, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	return Inbound{Subject: InSubject(KindOperation, key), Kind: KindOperation, Key: key, Event: e}, nil
}

func setExt(e *event.Event, name, v string) {
	if v != "" {
		e.SetExtension(name, v)
	}
}

func callSource(callID string) string {
	if callID == "" {
		callID = "unknown"
	}
	return ResolvedSource(callID)
}

func receivedAt(o InboundOptions) time.Time {
	if o.ReceivedAt.IsZero() {
		return time.Now().UTC()
	}
	return o.ReceivedAt.UTC()
}

// contentID hashes parts and then content, each followed by a NUL, to 32 hex
// digits. content (valid JSON) is hashed without insignificant white space, so
// that the same content hashes the same however it was indented; key order is
// kept: Graph's retry of a callback resends the same bytes.
func contentID(content []byte, parts ...string) string {
	var stack [1024]byte
	buf := stack[:0]
	for _, p := range parts {
		buf = append(append(buf, p...), 0)
	}
	buf = append(appendCompact(buf, content), 0)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16])
}

// ParseNotificationItem parses the data of a notification event from COMMS_IN:
// one commsNotification item whose resourceData is a single resource (or absent).
func ParseNotificationItem(data []byte) (*Notification, error) {
	if err := checkDepth(data); err != nil {
		return nil, fmt.Errorf("notification: %w", err)
	}
	n, err := parseNotification(data)
	if err != nil {
		return nil, fmt.Errorf("notification: %w", err)
	}
	return n, nil
}

// ParseOperationNotification is ParseNotificationItem followed by
// ParseOperation of the item's resource, checking the JSON once. It returns
// the item and its operation, nil when the item has no resource.
func ParseOperationNotification(data []byte) (*Notification, *Operation, error) {
	n, err := ParseNotificationItem(data)
	if err != nil || len(n.Resources) == 0 {
		return n, nil, err
	}
	op, err := parseOperation(n.Resources[0])
	if err != nil {
		return nil, nil, err
	}
	return n, op, nil
}
