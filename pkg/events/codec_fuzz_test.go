package events

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/graphwire/graphtest"
	"github.com/commsops/commsops/internal/inbound"
)

// Fuzz targets. Run one with, e.g.:
//
//	go test -run='^$' -fuzz=FuzzDecodeMsg -fuzztime=20s ./pkg/events/
//
// Graph's payloads (internal/graphwire/testdata) are seeds; inputs that once
// failed are kept under testdata/fuzz/<target>/ and replayed by every
// `go test`. The parsers' fuzz targets are in internal/graphwire and
// internal/inbound.

func FuzzDecodeMsg(f *testing.F) {
	f.Add("1.0", "id-1", "/src", "io.commsops.x", "subj é %", "2026-11-22T10:00:00Z", "c1", "application/json", []byte(`{}`))
	f.Add("1.0", "%4", "/src", "t", "", "", "", "", []byte(nil))
	f.Add("0.3", "id", "%zz", "t", "\x00", "not a time", "%FF", "json!", []byte("x"))
	f.Add("1.0", "a%20b", "%2Fs", "t%22", "%C3%A9", "2026-11-22T10:00:00.123456789+02:00", "%25", "text/plain; charset=utf-8", []byte("\xff"))
	// Header values of real events, and every payload as the body.
	for _, b := range graphtest.Payloads(f) {
		f.Add("1.0", "n-1", "/communications/calls/c", TypeOperationNotification, "", "", "", ContentTypeJSON, b)
		if n, err := graphwire.ParseNotifications(b); err == nil {
			if ins, err := inbound.NotificationEvents(n, inbound.Options{MessageID: "m é"}); err == nil && len(ins) > 0 {
				if m, err := EncodeMsg(ins[0].Subject, ins[0].Event()); err == nil {
					h := m.Header
					f.Add(h.Get(HeaderSpecVersion), h.Get(HeaderID), h.Get(HeaderSource), h.Get(HeaderType), h.Get(HeaderSubject),
						h.Get(HeaderTime), h.Get("ce-"+ExtCallID), h.Get(HeaderContentType), m.Data)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, spec, id, source, typ, subject, tm, ext, ct string, data []byte) {
		// 1. Decoding whatever arrives: never a panic, only documented errors.
		h := nats.Header{}
		for k, v := range map[string]string{HeaderSpecVersion: spec, HeaderID: id, HeaderSource: source, HeaderType: typ,
			HeaderSubject: subject, HeaderTime: tm, "ce-" + ExtCallID: ext, HeaderContentType: ct} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		e, err := DecodeMsg(h, data)
		if err != nil {
			if !errors.Is(err, ErrNotCloudEvent) && !errors.Is(err, ErrBadHeaderEncoding) {
				t.Fatalf("DecodeMsg: undocumented error: %v", err)
			}
		} else {
			m, err := EncodeMsg("s", e)
			if err != nil {
				t.Fatalf("decoded event does not re-encode: %v", err)
			}
			checkEncodedHeaders(t, m.Header)
			back, err := DecodeMsg(m.Header, m.Data)
			if err != nil {
				t.Fatalf("re-encoded event does not decode: %v", err)
			}
			checkSameEvent(t, e, back)
		}

		// 2. Encoding the fuzz strings as attribute values: what the SDK takes
		// as a valid event comes back unchanged.
		ev := event.New()
		ev.SetID(id)
		ev.SetSource("/calls/" + cehdr.Encode(source))
		ev.SetType(typ)
		ev.SetSubject(subject)
		if utf8.ValidString(ext) {
			ev.SetExtension(ExtClientContext, ext)
		}
		if len(data) > 0 {
			_ = ev.SetData(ContentTypeJSON, data)
		}
		if ev.Validate() != nil {
			return
		}
		m, err := EncodeMsg("s", ev)
		// Each on its own: "\xd0" and "\xab" are invalid apart but "д" together.
		if !utf8.ValidString(id) || !utf8.ValidString(typ) || !utf8.ValidString(subject) {
			if !errors.Is(err, ErrNotCloudEvent) {
				t.Fatalf("EncodeMsg of attributes that are not UTF-8: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("EncodeMsg of a valid event: %v", err)
		}
		checkEncodedHeaders(t, m.Header)
		back, err := DecodeMsg(m.Header, m.Data)
		if err != nil {
			t.Fatalf("DecodeMsg of an encoded event: %v", err)
		}
		checkSameEvent(t, ev, back)
	})
}

func checkEncodedHeaders(t *testing.T, h nats.Header) {
	t.Helper()
	for k, vs := range h {
		if !strings.HasPrefix(k, "ce-") {
			continue
		}
		for i := 0; i < len(vs[0]); i++ {
			if c := vs[0][i]; c < 0x21 || c > 0x7e || c == '"' {
				t.Fatalf("header %s = %q is not percent-encoded", k, vs[0])
			}
		}
	}
}

func checkSameEvent(t *testing.T, a, b event.Event) {
	t.Helper()
	if a.ID() != b.ID() || a.Source() != b.Source() || a.Type() != b.Type() || a.Subject() != b.Subject() ||
		!a.Time().Equal(b.Time()) || a.DataContentType() != b.DataContentType() || a.DataSchema() != b.DataSchema() ||
		!bytes.Equal(a.Data(), b.Data()) {
		t.Fatalf("round trip changed the event:\n%v\n%v", a, b)
	}
	if len(a.Extensions()) != len(b.Extensions()) {
		t.Fatalf("extensions %v became %v", a.Extensions(), b.Extensions())
	}
	for k, v := range a.Extensions() {
		if b.Extensions()[k] != v {
			t.Fatalf("extension %s: %#v became %#v", k, v, b.Extensions()[k])
		}
	}
}
