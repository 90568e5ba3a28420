package cehdr

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/evterr"
)

// CloudEvents NATS binding header names (binary content mode); pkg/events
// publishes the same names.
const (
	HeaderPrefix      = "ce-"
	HeaderSpecVersion = "ce-specversion"
	HeaderID          = "ce-id"
	HeaderSource      = "ce-source"
	HeaderType        = "ce-type"
	HeaderSubject     = "ce-subject"
	HeaderTime        = "ce-time"
	HeaderDataSchema  = "ce-dataschema"
	HeaderContentType = "content-type"
)

// EncodeMsg returns a NATS message carrying e in CloudEvents binary content
// mode: each attribute in a ce- header, percent-encoded as the NATS binding
// requires, content-type from datacontenttype, and the data as the body. It
// validates e first (and that every attribute is UTF-8, so that DecodeMsg can
// read what it writes) and returns evterr.ErrNotCloudEvent wrapped with the reason.
func EncodeMsg(subject string, e event.Event) (*nats.Msg, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", evterr.ErrNotCloudEvent, err)
	}
	// The V1 context's own map: Extensions() would copy it.
	var exts map[string]any
	if v1 := e.Context.AsV1(); v1 != nil {
		exts = v1.Extensions
	}
	h := make(nats.Header, 8+len(exts))
	vals := make([]string, 0, 8+len(exts)) // one backing array for every header value
	var bad string                         // the first attribute that is not UTF-8
	set := func(k, v string) {
		if bad == "" && !utf8.ValidString(v) {
			bad = k
		}
		vals = append(vals, Encode(v))
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set(HeaderSpecVersion, e.SpecVersion())
	set(HeaderID, e.ID())
	set(HeaderSource, e.Source())
	set(HeaderType, e.Type())
	if s := e.Subject(); s != "" {
		set(HeaderSubject, s)
	}
	if t := e.Time(); !t.IsZero() {
		set(HeaderTime, t.UTC().Format(time.RFC3339Nano))
	}
	if s := e.DataSchema(); s != "" {
		set(HeaderDataSchema, s)
	}
	if ct := e.DataContentType(); ct != "" {
		// content-type is not percent-encoded: it must be a plain header value
		// (a quoted parameter may hold bytes a header cannot carry).
		for i := 0; i < len(ct); i++ {
			if ct[i] < 0x20 || ct[i] > 0x7e {
				return nil, fmt.Errorf("%w: datacontenttype %q is not printable ASCII", evterr.ErrNotCloudEvent, ct)
			}
		}
		vals = append(vals, ct)
		h[HeaderContentType] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	for name, v := range exts {
		s, err := types.Format(v)
		if err != nil {
			return nil, fmt.Errorf("%w: extension %s: %v", evterr.ErrNotCloudEvent, name, err)
		}
		set(HeaderPrefix+name, s)
	}
	if bad != "" {
		// CloudEvents strings are Unicode: DecodeMsg would refuse this message.
		return nil, fmt.Errorf("%w: %s is not UTF-8", evterr.ErrNotCloudEvent, bad)
	}
	return &nats.Msg{Subject: subject, Header: h, Data: e.Data()}, nil
}

// DecodeMsg returns the CloudEvent carried in binary content mode by a NATS
// message's headers and body. Extension values come back as strings. It
// returns evterr.ErrNotCloudEvent (missing or invalid required attributes, an
// unsupported specversion) or evterr.ErrBadHeaderEncoding, wrapped with the header's name.
func DecodeMsg(h nats.Header, data []byte) (event.Event, error) {
	// NATS header names are case-sensitive and the binding writes them in
	// lower case; other casings are read too, but never ambiguously: the
	// lower-case header wins, and two other casings of one name are an error
	// (map order would otherwise pick one at random).
	keys := make(map[string]string, len(h)) // lower-cased name → header key
	for k := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, HeaderPrefix) && lk != HeaderContentType {
			continue
		}
		prev, dup := keys[lk]
		switch {
		case !dup || k == lk:
			keys[lk] = k
		case prev != lk:
			return event.Event{}, fmt.Errorf("%w: headers %q and %q both carry %s", evterr.ErrNotCloudEvent, prev, k, lk)
		}
	}
	get := func(lk string) (string, bool, error) {
		k, ok := keys[lk]
		if !ok {
			return "", false, nil
		}
		vals := h[k]
		if len(vals) == 0 {
			return "", false, nil
		}
		v, err := Decode(vals[0])
		if err != nil {
			return "", true, fmt.Errorf("%s: %w", lk, err)
		}
		return v, true, nil
	}
	sv, ok, err := get(HeaderSpecVersion)
	if err != nil {
		return event.Event{}, err
	}
	if !ok {
		return event.Event{}, fmt.Errorf("%w: no %s header", evterr.ErrNotCloudEvent, HeaderSpecVersion)
	}
	if sv != event.CloudEventsVersionV1 {
		return event.Event{}, fmt.Errorf("%w: specversion %q is not 1.0", evterr.ErrNotCloudEvent, sv)
	}
	e := event.New(event.CloudEventsVersionV1)
	// In sorted order, so that a message with several faults always gets the same error.
	for _, lk := range slices.Sorted(maps.Keys(keys)) {
		name, isCE := strings.CutPrefix(lk, HeaderPrefix)
		if !isCE || name == "specversion" {
			continue
		}
		v, _, err := get(lk)
		if err != nil {
			return event.Event{}, err
		}
		switch name {
		case "id":
			e.SetID(v)
		case "source":
			e.SetSource(v)
		case "type":
			e.SetType(v)
		case "subject":
			e.SetSubject(v)
		case "dataschema":
			e.SetDataSchema(v)
		case "time":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return event.Event{}, fmt.Errorf("%w: ce-time %q is not RFC 3339", evterr.ErrNotCloudEvent, v)
			}
			e.SetTime(t)
		default:
			if err := e.Context.SetExtension(name, v); err != nil {
				return event.Event{}, fmt.Errorf("%w: extension %q: %v", evterr.ErrNotCloudEvent, name, err)
			}
		}
	}
	if k, ok := keys[HeaderContentType]; ok {
		if ct := h.Get(k); ct != "" {
			e.SetDataContentType(ct)
		}
	}
	if len(data) > 0 {
		e.DataEncoded = data
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("%w: %v", evterr.ErrNotCloudEvent, err)
	}
	return e, nil
}
