package inbound

import (
	"net/url"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/cehdr"
)

// Event returns the CloudEvents SDK event of in: the event whose
// cehdr.EncodeMsg is the message Store publishes.
func (in Inbound) Event() event.Event {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(in.id)
	e.SetType(in.typ)
	e.SetSource(in.source)
	e.SetSubject(in.subject)
	e.SetTime(in.time)
	for _, x := range in.ext.pairs() {
		if x.value != "" {
			e.SetExtension(x.name, x.value)
		}
	}
	// With []byte data SetData cannot fail.
	_ = e.SetData(ContentTypeJSON, in.data)
	return e
}

type extension struct{ name, value string }

// pairs returns every extension attribute by name, "" for an absent one.
func (x *extensions) pairs() [7]extension {
	return [...]extension{
		{ExtOperationID, x.operationID}, {ExtClientContext, x.clientContext}, {ExtCallID, x.callID},
		{ExtChangeType, x.changeType}, {ExtMessageID, x.messageID}, {ExtTraceParent, x.traceParent},
		{ExtItemIndex, x.itemIndex},
	}
}

// msg returns the NATS message Store publishes for in: exactly
// cehdr.EncodeMsg(in.Subject, in.Event()), subject, headers and data, with
// the same errors. It writes the headers straight from in's fields
// (cehdr.EncodeJSONMsg, one backing array for them) and leaves to the
// general codec only what it does not handle itself: a source the SDK
// would rewrite or refuse, a value that is not UTF-8. message_test.go pins
// the two byte for byte.
func (in Inbound) msg() (*nats.Msg, error) {
	if src := sdkSource(in.source); src != "" {
		x := in.ext.pairs()
		m, err := cehdr.EncodeJSONMsg(in.Subject, in.data,
			cehdr.HeaderID, in.id, cehdr.HeaderSource, src, cehdr.HeaderType, in.typ,
			cehdr.HeaderSubject, in.subject, cehdr.HeaderTime, cehdr.TimeAttr(in.time),
			cehdr.HeaderPrefix+ExtOperationID, x[0].value, cehdr.HeaderPrefix+ExtClientContext, x[1].value,
			cehdr.HeaderPrefix+ExtCallID, x[2].value, cehdr.HeaderPrefix+ExtChangeType, x[3].value,
			cehdr.HeaderPrefix+ExtMessageID, x[4].value, cehdr.HeaderPrefix+ExtTraceParent, x[5].value,
			cehdr.HeaderPrefix+ExtItemIndex, x[6].value)
		if err == nil {
			return m, nil
		}
	}
	return cehdr.EncodeMsg(in.Subject, in.Event())
}

// sdkSource returns the source as the SDK event carries it (url.Parse, then
// String), "" when it does not parse (the event is then refused). A path of
// unreserved characters and single slashes comes back as it is, unparsed.
func sdkSource(s string) string {
	if plainPath(s) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.String()
}

// plainPath reports whether s is an absolute path whose bytes are all
// unreserved (RFC 3986) or '/', not starting with "//": url.Parse and
// String give it back unchanged.
func plainPath(s string) bool {
	if len(s) == 0 || s[0] != '/' || len(s) > 1 && s[1] == '/' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
			return false
		}
	}
	return true
}
