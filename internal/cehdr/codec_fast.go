package cehdr

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/stallcheck"
)

// contentTypeJSON and extTraceParent are pkg/events's ContentTypeJSON and
// ExtTraceParent (its tests check they agree).
const (
	contentTypeJSON = "application/json"
	extTraceParent  = "traceparent"
)

// Fast paths of the codec for the hot paths of the resolver and the ingest:
// they write and read the same ce- headers as EncodeMsg and DecodeMsg without
// building an SDK event. codec_fast_test.go compares them with the general
// codec byte for byte.

// EncodeJSONMsg returns the CloudEvents 1.0 binary-mode message of JSON data
// with the attributes attrs, given as header name/value pairs (ce-id,
// ce-source, ...; ce-specversion and content-type are added). The headers are
// those EncodeMsg writes for the same event: empty values are left out, id,
// type and subject are trimmed as the SDK's setters trim them, values are
// percent-encoded. It returns evterr.ErrNotCloudEvent when id, source or type is
// missing or a value is not UTF-8; nothing else is validated, so the
// attributes must be ones EncodeMsg accepts (URI references, RFC 3339 times).
func EncodeJSONMsg(subject string, data []byte, attrs ...string) (*nats.Msg, error) {
	// Room for specversion, content-type and the Nats-Msg-Id and
	// Nats-Expected-Stream a JetStream publish adds, so that it need not grow.
	h := make(nats.Header, 4+len(attrs)/2)
	vals := make([]string, 0, 2+len(attrs)/2) // one backing array for every value
	add := func(k, v string) {
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	add(HeaderSpecVersion, "1.0")
	for i := 0; i+1 < len(attrs); i += 2 {
		k, v := attrs[i], attrs[i+1]
		if k == HeaderID || k == HeaderType || k == HeaderSubject {
			v = strings.TrimSpace(v) // as the SDK's event setters do
		}
		if v == "" {
			if k == HeaderID || k == HeaderSource || k == HeaderType {
				return nil, fmt.Errorf("%w: event without %s", evterr.ErrNotCloudEvent, k)
			}
			continue
		}
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("%w: %s is not UTF-8", evterr.ErrNotCloudEvent, k)
		}
		add(k, Encode(v))
	}
	add(HeaderContentType, contentTypeJSON)
	return &nats.Msg{Subject: subject, Header: h, Data: data}, nil
}

// TimeAttr returns t as EncodeMsg writes ce-time (RFC 3339 in UTC), or ""
// (left out by EncodeJSONMsg) for the zero time.
func TimeAttr(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Attributes are the attributes ReadAttributes reads.
type Attributes struct {
	ID, Type string
	Time     time.Time // UTC; zero when absent
	// Extensions: ExtTraceParent and the stall check's opslot and newsseq ("" when absent).
	TraceParent, Slot, NewsSeq string
}

// ReadAttributes reads the attributes straight from headers as EncodeMsg
// writes them: lower-case names, one value each, none percent-encoded,
// specversion 1.0, id, source and type present and UTF-8, a valid time. ok
// is false for any other shape: DecodeMsg then decides (it accepts or
// refuses such headers), and for headers ReadAttributes reads it returns the
// same attributes.
func ReadAttributes(h nats.Header) (a Attributes, ok bool) {
	get := func(k string) (string, bool) {
		v := h[k]
		if len(v) != 1 || strings.IndexByte(v[0], '%') >= 0 {
			return "", len(v) == 0
		}
		return v[0], true
	}
	sv, ok1 := get(HeaderSpecVersion)
	src, ok2 := get(HeaderSource)
	id, ok3 := get(HeaderID)
	typ, ok4 := get(HeaderType)
	tm, ok5 := get(HeaderTime)
	tp, ok6 := get(HeaderPrefix + extTraceParent)
	slot, ok7 := get(HeaderPrefix + stallcheck.ExtSlot)
	news, ok8 := get(HeaderPrefix + stallcheck.ExtNewsSeq)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) || sv != "1.0" || src == "" || id == "" || typ == "" ||
		!utf8.ValidString(src) || !utf8.ValidString(id) || !utf8.ValidString(typ) { // each (stricter than joined): no concatenation
		return a, false
	}
	a = Attributes{ID: id, Type: typ, TraceParent: tp, Slot: slot, NewsSeq: news}
	if tm != "" {
		t, err := time.Parse(time.RFC3339Nano, tm)
		if err != nil {
			return a, false
		}
		a.Time = t.UTC()
	}
	return a, true
}
