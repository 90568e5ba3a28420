package events

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// sentinels are the errors every rejection must wrap.
var sentinels = []error{ErrInvalidJSON, ErrInvalidPayload, ErrInvalidStatus, ErrClientContextTooLong,
	ErrClientContextInvalid, ErrNotCloudEvent, ErrBadHeaderEncoding, ErrTooDeep, ErrTooManyItems}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func seedFromTestdata(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"value":[{"resourceData":[{"@odata.type":"#microsoft.graph.participant"}]}]}`))
	f.Add([]byte(`{"callId":"c","action":"a","httpStatus":202,"operation":null,"clientContext":"x"}`))
}

func FuzzParseNotifications(f *testing.F) {
	seedFromTestdata(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotifications(body)
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("rejection without a documented sentinel: %v", err)
			}
			return
		}
		ins, err := NotificationEvents(n, InboundOptions{})
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("rejection without a documented sentinel: %v", err)
			}
			return
		}
		for _, in := range ins {
			if toks := strings.Split(in.Subject, "."); len(toks) != 4 || strings.ContainsAny(in.Subject, "*> ") {
				t.Fatalf("unsafe subject %q", in.Subject)
			}
			if _, err := EncodeMsg(in.Subject, in.Event); err != nil {
				t.Fatalf("accepted input yields an unencodable event: %v", err)
			}
		}
	})
}

func FuzzParseActionResponse(f *testing.F) {
	seedFromTestdata(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseActionResponse(body)
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("rejection without a documented sentinel: %v", err)
			}
			return
		}
		in, err := ResponseEvent(r, body, InboundOptions{})
		if err != nil {
			t.Fatalf("accepted response yields no event: %v", err)
		}
		if toks := strings.Split(in.Subject, "."); len(toks) != 4 || strings.ContainsAny(in.Subject, "*> ") {
			t.Fatalf("unsafe subject %q", in.Subject)
		}
	})
}

func FuzzDecodeMsg(f *testing.F) {
	f.Add("1.0", "id-1", "/src", "io.commsops.x", "subj é %", "2026-11-22T10:00:00Z", []byte(`{}`))
	f.Add("1.0", "%4", "/src", "t", "", "", []byte(nil))
	f.Add("0.3", "id", "%zz", "t", "\x00", "not a time", []byte("x"))
	f.Fuzz(func(t *testing.T, spec, id, source, typ, subject, tm string, data []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{HeaderSpecVersion: spec, HeaderID: id, HeaderSource: source, HeaderType: typ, HeaderSubject: subject, HeaderTime: tm} {
			if v != "" {
				h.Set(k, v)
			}
		}
		e, err := DecodeMsg(h, data)
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("rejection without a documented sentinel: %v", err)
			}
			return
		}
		// What decodes re-encodes and decodes to the same attributes.
		m, err := EncodeMsg("s", e)
		if err != nil {
			t.Fatalf("decoded event does not re-encode: %v", err)
		}
		back, err := DecodeMsg(m.Header, m.Data)
		if err != nil || back.ID() != e.ID() || back.Source() != e.Source() || back.Subject() != e.Subject() {
			t.Fatalf("round trip changed the event (err %v)", err)
		}
	})
}

func FuzzKey(f *testing.F) {
	for _, s := range []string{"", ".", "a.b", "*", ">", "a b", "ü", "d45324c1-fcb5-430a-902c-f20af696537c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cc string) {
		k := Key(cc)
		if !kvKey.MatchString(k) {
			t.Fatalf("Key(%q) = %q", cc, k)
		}
		if toks := strings.Split(ResolvedSubject(k, StatusCompleted), "."); len(toks) != 4 {
			t.Fatalf("Key(%q) widens the subject", cc)
		}
	})
}
