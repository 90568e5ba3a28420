package events

import (
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/cehdr"
)

// CloudEvents NATS binding header names (binary content mode).
const (
	HeaderSpecVersion = cehdr.HeaderSpecVersion
	HeaderID          = cehdr.HeaderID
	HeaderSource      = cehdr.HeaderSource
	HeaderType        = cehdr.HeaderType
	HeaderSubject     = cehdr.HeaderSubject
	HeaderTime        = cehdr.HeaderTime
	HeaderDataSchema  = cehdr.HeaderDataSchema
	HeaderContentType = cehdr.HeaderContentType
)

// EncodeMsg returns a NATS message carrying e in CloudEvents binary content
// mode: each attribute in a ce- header, percent-encoded as the NATS binding
// requires, content-type from datacontenttype, and the data as the body. It
// validates e first (and that every attribute is UTF-8, so that DecodeMsg can
// read what it writes) and returns ErrNotCloudEvent wrapped with the reason.
func EncodeMsg(subject string, e event.Event) (*nats.Msg, error) { return cehdr.EncodeMsg(subject, e) }

// DecodeMsg returns the CloudEvent of a binary-mode NATS message from the
// message's headers and body. Extension values come back as strings. It
// returns ErrNotCloudEvent (missing or invalid required attributes, an
// unsupported specversion) or ErrBadHeaderEncoding, wrapped with the header's name.
func DecodeMsg(h nats.Header, data []byte) (event.Event, error) { return cehdr.DecodeMsg(h, data) }
