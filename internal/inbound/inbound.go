// Package inbound makes and stores the events of COMMS_IN: one CloudEvent per
// resource of a Graph callback (NotificationEvents) or per action response
// (ResponseEvent), each with its content-derived id, its subject and its
// key, and Store publishes a batch all or nothing as far as the caller is
// told. The ingest and pkg/events's Publisher use it.
package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/jsonx"
	"github.com/commsops/commsops/internal/keys"
	"github.com/commsops/commsops/internal/subjects"
)

// Inbound is one event to store in COMMS_IN: its publish subject and the
// CloudEvent's attributes and data, kept in plain fields so that Store can
// write its NATS message without an SDK event (Event returns one). ID is
// content-derived and doubles as the Nats-Msg-Id, so the same resource or
// response stored twice within the stream's duplicate window is kept once.
type Inbound struct {
	Subject string
	Kind    graphwire.Kind
	Key     string

	id, typ, source string
	subject         string // as given; the SDK trims it
	time            time.Time
	data            []byte
	ext             extensions
	hdr             int // headerSize, measured once by the constructors
}

// extensions are the extension attributes an Inbound may carry; "" is absent.
type extensions struct {
	operationID, clientContext, callID, changeType, messageID, traceParent, itemIndex string
}

// ID returns the event's id (the Nats-Msg-Id it is stored with).
func (in Inbound) ID() string { return in.id }

// Type returns the event's CloudEvents type.
func (in Inbound) Type() string { return in.typ }

// EventSubject returns the event's CloudEvents subject as the SDK event
// carries it: its clientContext, else its call id, trimmed of white space.
func (in Inbound) EventSubject() string { return strings.TrimSpace(in.subject) }

// Data returns the event data: the JSON stored as the message body.
func (in Inbound) Data() []byte { return in.data }

// Options carries what the transport knows about a delivery.
type Options struct {
	// ReceivedAt becomes the event time; zero means now.
	ReceivedAt time.Time
	// MessageID is X-Microsoft-Skype-Message-ID when present; kept as an
	// extension attribute for tracing deliveries. At most MaxIDLen bytes of
	// UTF-8, else the events are refused.
	MessageID string
	// TraceParent is a W3C traceparent to carry in the distributed-tracing
	// extension. One that is not a valid traceparent is ignored, as the W3C
	// trace-context specification requires of a receiver.
	TraceParent string
}

// Limits on what one request stores. The ingest lowers its body limit to the
// server's max_payload minus MaxHeaderBytes, so every event whose headers
// are within MaxHeaderBytes fits in one message.
const (
	// MaxIDLen bounds, in bytes, each value copied into an event header
	// besides clientContext (graphid.MaxClientContextLen characters): the call id,
	// the operation id, the changeType and the delivery's message id.
	// Graph's are GUIDs and short words.
	MaxIDLen = 128
	// MaxHeaderBytes bounds the NATS headers of one stored event (JetStream
	// refuses 64 KiB). Events within the limits above stay under it: about
	// 0.7 KiB with Graph's ids, 7.5 KiB with a clientContext of 256 4-byte
	// characters.
	MaxHeaderBytes = 8 << 10
	// BudgetPerEvent is what StoreBudget allows each event beyond 4× the body:
	// room for its headers.
	BudgetPerEvent = 2 << 10
)

// StoreBudget returns the most bytes (event data and NATS headers, as
// Inbound.Size counts them) that a request of bodyLen bytes split into
// events events may store: 4×bodyLen + BudgetPerEvent×events. With at most
// graphwire.MaxItems events and a 1 MiB body that is at most 6 MiB; Graph's callbacks
// take about body + 1 KiB per event. Copying an item's other members into
// each resource's event is what the budget stops from multiplying a body.
func StoreBudget(bodyLen, events int) int { return 4*bodyLen + BudgetPerEvent*events }

// DataSize returns the bytes of event data and the number of events that
// NotificationEvents makes of n, without making them: each resource of an
// array resourceData copies the item's other members.
func DataSize(n *graphwire.Notifications) (size, events int) {
	for i := range n.Items {
		item := &n.Items[i]
		switch {
		case !item.ResourceDataIsArray:
			size += len(item.Raw)
			events++
		case len(item.Resources) == 0:
			size += item.SharedLen() + len("null")
			events++
		default:
			size += len(item.Resources) * item.SharedLen()
			for _, r := range item.Resources {
				size += len(r)
			}
			events += len(item.Resources)
		}
	}
	return size, events
}

// Size returns the bytes in stores in JetStream: its data plus its NATS
// headers as Store writes them (the CloudEvents headers, Nats-Msg-Id and
// Nats-Expected-Stream). It errs on the high side by no more than a few
// bytes per header.
func (in Inbound) Size() int { return in.hdr + len(in.data) }

// headerSize is the header part of Size, counted on the attributes as the
// SDK event carries them (Event); the constructors keep it in hdr.
func (in Inbound) headerSize() int {
	const line = len(": \r\n")
	n := len("NATS/1.0\r\n") + len("\r\n")
	add := func(k, v string) { n += len(k) + line + cehdr.EncodedLen(v) }
	ext := func(name, v string) {
		if v != "" {
			n += len(cehdr.HeaderPrefix) + len(name) + line + cehdr.EncodedLen(v)
		}
	}
	add(cehdr.HeaderSpecVersion, event.CloudEventsVersionV1)
	add(cehdr.HeaderID, strings.TrimSpace(in.id))
	add(cehdr.HeaderSource, sdkSource(in.source))
	add(cehdr.HeaderType, strings.TrimSpace(in.typ))
	add(cehdr.HeaderSubject, in.EventSubject())
	add(cehdr.HeaderTime, "2006-01-02T15:04:05.999999999Z")
	add(cehdr.HeaderDataSchema, "")
	add(cehdr.HeaderContentType, ContentTypeJSON)
	for _, x := range in.ext.pairs() {
		ext(x.name, x.value)
	}
	add("Nats-Msg-Id", strings.TrimSpace(in.id))
	add("Nats-Expected-Stream", StreamIn)
	return n
}

// validate checks the options that become event headers.
func (o Options) validate() error {
	if len(o.MessageID) > MaxIDLen {
		return fmt.Errorf("%w: message id of %d bytes, at most %d", evterr.ErrValueTooLong, len(o.MessageID), MaxIDLen)
	}
	if !utf8.ValidString(o.MessageID) {
		return fmt.Errorf("%w: message id is not UTF-8", evterr.ErrInvalidPayload)
	}
	return nil
}

// checkIDs returns evterr.ErrValueTooLong for an id or name over MaxIDLen bytes.
func checkIDs(names []string, vals ...string) error {
	for i, v := range vals {
		if len(v) > MaxIDLen {
			return fmt.Errorf("%w: %s of %d bytes (%s), at most %d", evterr.ErrValueTooLong, names[i], len(v), quoteShort(v), MaxIDLen)
		}
	}
	return nil
}

var idNames = []string{"call id", "operation id", "changeType"}

// validTraceParent reports whether tp is a W3C traceparent a receiver may
// use: version-traceid-parentid-flags in lower-case hex, version not ff,
// trace and parent ids not all zero; a version above 00 may carry more
// fields after a dash.
func validTraceParent(tp string) bool {
	if len(tp) < 55 || (len(tp) > 55 && (tp[:2] == "00" || tp[55] != '-')) || len(tp) > 512 {
		return false
	}
	for i := 0; i < 55; i++ {
		c := tp[i]
		switch i {
		case 2, 35, 52:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	if tp[:2] == "ff" || tp[3:35] == strings.Repeat("0", 32) || tp[36:52] == strings.Repeat("0", 16) {
		return false
	}
	for i := 55; i < len(tp); i++ {
		if tp[i] < 0x21 || tp[i] > 0x7e {
			return false
		}
	}
	return true
}

// NotificationEvents splits a parsed callback into one Inbound per resource
// (one per element of an array resourceData; one for an item without
// resourceData). Operation resources are keyed by keys.OperationKey and
// everything else by keys.CallKey. The event data is the commsNotification item with
// resourceData narrowed to that one resource (its other bytes as received).
// It returns evterr.ErrValueTooLong for an id over MaxIDLen, evterr.ErrDuplicateMember for
// a resource naming @odata.type twice, and the operation parser's errors.
func NotificationEvents(n *graphwire.Notifications, o Options) ([]Inbound, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
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
			in.ext.itemIndex = strconv.Itoa(i) + "." + strconv.Itoa(j)
			in.hdr = in.headerSize()
			out = append(out, in)
		}
	}
	return out, nil
}

func notificationEvent(item graphwire.Notification, res json.RawMessage, narrow bool, at time.Time, o Options) (Inbound, error) {
	var (
		kind = graphwire.KindOther
		err  error
	)
	if res != nil {
		t, err := graphwire.ResourceType(res)
		if err != nil {
			return Inbound{}, err
		}
		kind = graphwire.ResourceKind(t, item.Path)
	} else if item.Path.IsOperation {
		kind = graphwire.KindOperation
	}
	callID := item.Path.CallID
	if err := checkIDs(idNames, callID, item.Path.OperationID, item.ChangeType); err != nil {
		return Inbound{}, err
	}
	data := []byte(item.Raw)
	if narrow {
		data = item.Narrowed(res)
	}
	in := Inbound{Kind: kind}
	switch kind {
	case graphwire.KindOperation:
		var opID, clientContext string
		if res != nil {
			if opID, clientContext, err = graphwire.ResourceIDs(res); err != nil {
				return Inbound{}, err
			}
		}
		if opID == "" {
			opID = item.Path.OperationID
		}
		if err := checkIDs(idNames[1:], opID); err != nil {
			return Inbound{}, err
		}
		in.Key = keys.OperationKey(clientContext, callID, opID)
		in.ext.operationID = opID
		in.ext.clientContext = clientContext
		in.subject = clientContext
		if in.subject == "" {
			in.subject = callID
		}
		in.typ = TypeOperationNotification
	default:
		in.Key = keys.CallKey(callID)
		in.subject = callID
		in.typ = notificationType(kind)
	}
	in.Subject = InSubject(kind, in.Key)
	in.ext.callID = callID
	in.ext.changeType = item.ChangeType
	in.ext.messageID = o.MessageID
	in.ext.traceParent = traceParent(o.TraceParent)
	in.id = "n-" + contentID(res, string(kind), callID, item.ChangeType, item.ResourceURL)
	in.source = callSource(callID)
	in.time = at
	in.data = data
	return in, nil
}

func notificationType(k graphwire.Kind) string {
	switch k {
	case graphwire.KindOperation:
		return TypeOperationNotification
	case graphwire.KindCall:
		return TypeCallNotification
	case graphwire.KindParticipant:
		return TypeParticipantNotification
	}
	return TypeOtherNotification
}

// ResponseEvent returns the Inbound for a validated action response. body is
// the envelope as received; it becomes the event data unchanged.
func ResponseEvent(r *graphwire.ParsedResponse, body []byte, o Options) (Inbound, error) {
	if err := o.validate(); err != nil {
		return Inbound{}, err
	}
	callID := r.NormalizedCallID()
	opID := ""
	if r.Op != nil {
		opID = r.Op.ID
	}
	if err := checkIDs(idNames, callID, opID); err != nil {
		return Inbound{}, err
	}
	key := keys.OperationKey(r.ClientContext, callID, opID)
	in := Inbound{Subject: InSubject(graphwire.KindOperation, key), Kind: graphwire.KindOperation, Key: key}
	in.id = "r-" + contentID(body, "response")
	in.typ = TypeActionResponse
	in.source = callSource(callID)
	in.subject = r.ClientContext
	if in.subject == "" {
		in.subject = callID
	}
	in.time = receivedAt(o)
	in.ext.callID = callID
	in.ext.operationID = opID
	in.ext.clientContext = r.ClientContext
	in.ext.traceParent = traceParent(o.TraceParent)
	in.data = body
	in.hdr = in.headerSize()
	return in, nil
}

// traceParent returns tp when it is a valid traceparent and "" (no
// extension) otherwise (W3C trace context: a receiver discards one it
// cannot parse).
func traceParent(tp string) string {
	if validTraceParent(tp) {
		return tp
	}
	return ""
}

func callSource(callID string) string {
	if callID == "" {
		callID = "unknown"
	}
	return subjects.ResolvedSource(callID)
}

func receivedAt(o Options) time.Time {
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
	buf = append(jsonx.AppendCompact(buf, content), 0)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16])
}
