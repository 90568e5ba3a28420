package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/graphid"
)

// Fuzz targets. Run one with, e.g.:
//
//	go test -run='^$' -fuzz=FuzzParseNotifications -fuzztime=20s ./pkg/events/
//
// Every testdata payload is a seed; inputs that once failed are kept under
// testdata/fuzz/<target>/ and replayed by every `go test`.

// testdataPayloads returns every payload file under testdata/ (not the fuzz corpus).
func testdataPayloads(f *testing.F) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no testdata payloads: %v", err)
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func seedPayloads(f *testing.F) {
	for _, b := range testdataPayloads(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"value":[{"resourceData":[{"@odata.type":"#microsoft.graph.participant"}]}]}`))
	f.Add([]byte(`{"value":[{"resourceUrl":"/communications/calls/a.b*>/operations/1","resourceData":{"id":"x y","clientContext":" "}}]}`))
	f.Add([]byte(`{"callId":"c","action":"a","httpStatus":202,"operation":null,"clientContext":"x"}`))
	f.Add([]byte("{\"callId\":\"c\xff\",\"action\":\"a\",\"httpStatus\":200,\"operation\":{\"id\":\"\xfe\",\"clientContext\":\"\xc3\"}}"))
}

// checkRejected asserts a rejection wraps a documented sentinel.
func checkRejected(t *testing.T, what string, err error) {
	t.Helper()
	if !wrapsSentinel(err) {
		t.Fatalf("%s: rejection without a documented sentinel: %v", what, err)
	}
}

// checkInbound asserts what the ingest would store is safe and readable back
// the way the resolver reads it.
func checkInbound(t *testing.T, in Inbound) event.Event {
	t.Helper()
	checkSubject(t, in.Subject, 4)
	if !kvKeyRe.MatchString(in.Key) || strings.Contains(in.Key, ".") || in.Subject != InSubject(in.Kind, in.Key) {
		t.Fatalf("key %q subject %q", in.Key, in.Subject)
	}
	m, err := EncodeMsg(in.Subject, in.Event)
	if err != nil {
		t.Fatalf("accepted input yields an unencodable event: %v", err)
	}
	back, err := DecodeMsg(m.Header, m.Data)
	if err != nil {
		t.Fatalf("accepted input yields an event no consumer can decode: %v", err)
	}
	if back.ID() != in.Event.ID() || back.Type() != in.Event.Type() || back.Subject() != in.Event.Subject() ||
		back.Source() != in.Event.Source() || !bytes.Equal(back.Data(), in.Event.Data()) {
		t.Fatalf("the event changed in transit:\n%v\n%v", in.Event, back)
	}
	return back
}

func FuzzParseNotifications(f *testing.F) {
	seedPayloads(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotifications(body)
		if err != nil {
			if n != nil {
				t.Fatal("a result beside an error")
			}
			checkRejected(t, "ParseNotifications", err)
			return
		}
		for _, item := range n.Items {
			for _, res := range item.Resources {
				if ResourceKind(resourceTypeOf(res), item.Path) != KindOperation {
					continue
				}
				if _, err := parseOperationChecked(res); err != nil {
					checkRejected(t, "ParseOperation", err)
				}
			}
		}
		ins, err := NotificationEvents(n, InboundOptions{MessageID: "m"})
		if err != nil {
			checkRejected(t, "NotificationEvents", err)
			return
		}
		again, _ := ParseNotifications(body)
		insAgain, err := NotificationEvents(again, InboundOptions{})
		if err != nil || len(insAgain) != len(ins) {
			t.Fatalf("not deterministic: %v", err)
		}
		for i, in := range ins {
			if insAgain[i].Event.ID() != in.Event.ID() || insAgain[i].Subject != in.Subject {
				t.Fatalf("event %d: id or subject not deterministic", i)
			}
			back := checkInbound(t, in)
			if in.Kind != KindOperation {
				continue
			}
			// The resolver parses what was stored: it must never be poison.
			item, err := ParseNotificationItem(back.Data())
			if err != nil {
				t.Fatalf("stored operation notification does not parse back: %v", err)
			}
			if len(item.Resources) > 0 {
				if _, err := parseOperationChecked(item.Resources[0]); err != nil {
					t.Fatalf("stored operation does not parse back: %v", err)
				}
			}
		}
	})
}

func FuzzParseActionResponse(f *testing.F) {
	seedPayloads(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseActionResponse(body)
		if err != nil {
			if r != nil {
				t.Fatal("a result beside an error")
			}
			checkRejected(t, "ParseActionResponse", err)
			return
		}
		if err := graphid.ValidateClientContext(r.ClientContext); err != nil {
			t.Fatalf("accepted an invalid clientContext: %v", err)
		}
		if r.Op == nil && r.ClientContext == "" {
			t.Fatal("accepted a null operation without clientContext")
		}
		if r.HTTPStatus < 100 || r.HTTPStatus > 599 || strings.TrimSpace(r.CallID) == "" || strings.TrimSpace(r.Action) == "" {
			t.Fatalf("accepted an invalid envelope: %+v", r.ActionResponse)
		}
		in, err := ResponseEvent(r, body, InboundOptions{})
		if errors.Is(err, ErrValueTooLong) {
			return // an id too long for a header: refused, 400
		}
		if err != nil {
			t.Fatalf("accepted response yields no event: %v", err)
		}
		opID := ""
		if r.Op != nil {
			opID = r.Op.ID
		}
		if in.Key != operationKey(r.ClientContext, r.NormalizedCallID(), opID) {
			t.Fatalf("key %q", in.Key)
		}
		back := checkInbound(t, in)
		// The resolver parses what was stored: the same response again.
		r2, err := ParseActionResponse(back.Data())
		if err != nil || r2.ClientContext != r.ClientContext || r2.NormalizedCallID() != r.NormalizedCallID() {
			t.Fatalf("stored response does not parse back the same: %v", err)
		}
	})
}

// jsonOperation is how a subscriber reads a stored operation with
// encoding/json: each known field by its name in any casing, the last of
// several winning.
type jsonOperation struct {
	ODataType        json.RawMessage `json:"@odata.type"`
	ID               json.RawMessage `json:"id"`
	Status           json.RawMessage `json:"status"`
	ClientContext    json.RawMessage `json:"clientContext"`
	ResultInfo       json.RawMessage `json:"resultInfo"`
	CompletionReason json.RawMessage `json:"completionReason"`
}

// jsonItem is how a subscriber reads a stored notification item.
type jsonItem struct {
	ChangeType   json.RawMessage `json:"changeType"`
	ResourceURL  json.RawMessage `json:"resourceUrl"`
	Resource     json.RawMessage `json:"resource"`
	ResourceData json.RawMessage `json:"resourceData"`
}

// FuzzOneMeaning is a differential test against encoding/json: whatever the
// tolerant parsers accept, encoding/json (struct fields matched in any
// casing, the last duplicate winning) and a map reader (exact names) read
// with the same meaning: the same clientContext, status, ids and
// resources, both from the input and from every event stored from it.
// Input they would read differently (a field named twice, or a field of
// Graph's objects in another casing) is refused.
func FuzzOneMeaning(f *testing.F) {
	seedPayloads(f)
	for _, s := range []string{
		`{"id":"a","clientContext":"victim-cc","ClientContext":"other-cc","status":"running"}`,
		`{"id":"a","clientContext":"cc","status":"running","Status":"failed"}`,
		`{"id":"a","clientContext":"cc","status":"running","status":"failed"}`,
		`{"id":"a","ſtatus":"failed","clientContext":"cc"}`,
		`{"value":[{"resourceUrl":"/communications/calls/c/operations/0fe0623f-d628-42ed-b4bd-8ac290072cc5","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","clientContext":"victim-cc","ClientContext":"other-cc","status":"completed"}}]}`,
		`{"value":[{"resourceUrl":"/communications/calls/c/operations/x","resourceData":[{"status":"running","clientContext":"a"}],"ResourceData":[{"status":"failed","clientContext":"b"}]}]}`,
		`{"value":[{"resourceUrl":"/communications/calls/c/operations/x","resourceData":[{"status":"running","clientContext":"a"},{"@odata.type":"#microsoft.graph.participant"}],"x":"y"}]}`,
		`{"callId":"c","action":"playPrompt","httpStatus":202,"clientContext":"a","ClientContext":"b","operation":null}`,
		`{"callId":"c","action":"playPrompt","httpStatus":202,"operation":{"id":"o","clientContext":"a","CLIENTCONTEXT":"b"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if op, err := parseOperationChecked(body); err == nil {
			checkOperationMeaning(t, body, op)
		}
		if r, err := ParseActionResponse(body); err == nil {
			var want ActionResponse
			if err := json.Unmarshal(body, &want); err != nil {
				t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
			}
			if want.CallID != r.CallID || want.Action != r.Action || want.HTTPStatus != r.HTTPStatus || !want.SentAt.Equal(r.SentAt) ||
				(want.ClientContext != "" && want.ClientContext != r.ClientContext) {
				t.Fatalf("%q: parser %+v, encoding/json %+v", body, r.ActionResponse, want)
			}
			if r.Op != nil {
				checkOperationMeaning(t, want.Operation, r.Op)
			}
		}
		n, err := ParseNotifications(body)
		if err != nil {
			return
		}
		for i, item := range n.Items {
			checkItemMeaning(t, item.Raw, &n.Items[i])
		}
		ins, err := NotificationEvents(n, InboundOptions{})
		if err != nil {
			return
		}
		for _, in := range ins {
			// What a subscriber reads from the stored event is what the
			// event was keyed and typed by.
			item, err := ParseNotificationItem(in.Event.Data())
			if err != nil {
				t.Fatalf("stored item does not parse: %v", err)
			}
			checkItemMeaning(t, in.Event.Data(), item)
			if in.Kind != KindOperation || len(item.Resources) == 0 {
				continue
			}
			var stored jsonItem
			var op jsonOperation
			if json.Unmarshal(in.Event.Data(), &stored) != nil || json.Unmarshal(stored.ResourceData, &op) != nil {
				t.Fatalf("stored item %q: encoding/json cannot read it", in.Event.Data())
			}
			cc, _ := looseString(op.ClientContext)
			if ext, _ := in.Event.Extensions()[ExtClientContext].(string); ext != cc {
				t.Fatalf("event keyed by clientContext %q, encoding/json reads %q from its data %q", ext, cc, in.Event.Data())
			}
		}
	})
}

// checkOperationMeaning fails unless encoding/json and a map reader read
// data, which ParseOperation made op of, with op's meaning.
func checkOperationMeaning(t *testing.T, data []byte, op *Operation) {
	t.Helper()
	var j jsonOperation
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatalf("parsed %q, which encoding/json refuses: %v", data, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("parsed %q, which encoding/json refuses as a map: %v", data, err)
	}
	str := func(v json.RawMessage) string { s, _ := looseString(v); return s }
	for _, c := range []struct {
		name         string
		json, mapRaw json.RawMessage
		got, want    string
	}{
		{"@odata.type", j.ODataType, m["@odata.type"], op.ODataType, str(j.ODataType)},
		{"id", j.ID, m["id"], op.ID, graphid.NormalizeID(str(j.ID))},
		{"status", j.Status, m["status"], op.StatusRaw, str(j.Status)},
		{"clientContext", j.ClientContext, m["clientContext"], op.ClientContext, str(j.ClientContext)},
		{"completionReason", j.CompletionReason, m["completionReason"], op.CompletionReason, str(j.CompletionReason)},
	} {
		if c.got != c.want {
			t.Fatalf("%q: %s is %q to the parser, %q to encoding/json", data, c.name, c.got, c.want)
		}
		if !bytes.Equal(c.mapRaw, c.json) {
			t.Fatalf("%q: %s is %s to a map reader, %s to encoding/json", data, c.name, c.mapRaw, c.json)
		}
	}
	if (op.ResultInfo == nil) != isNull(j.ResultInfo) {
		t.Fatalf("%q: resultInfo %+v to the parser, %s to encoding/json", data, op.ResultInfo, j.ResultInfo)
	}
}

// checkItemMeaning fails unless encoding/json reads the item raw as the
// parser read it into n.
func checkItemMeaning(t *testing.T, raw []byte, n *Notification) {
	t.Helper()
	var j jsonItem
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatalf("parsed item %q, which encoding/json refuses: %v", raw, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("parsed item %q, which encoding/json refuses as a map: %v", raw, err)
	}
	for _, c := range []struct {
		name         string
		json, mapRaw json.RawMessage
	}{{"changeType", j.ChangeType, m["changeType"]}, {"resourceUrl", j.ResourceURL, m["resourceUrl"]},
		{"resource", j.Resource, m["resource"]}, {"resourceData", j.ResourceData, m["resourceData"]}} {
		if !bytes.Equal(c.mapRaw, c.json) {
			t.Fatalf("%q: %s is %s to a map reader, %s to encoding/json", raw, c.name, c.mapRaw, c.json)
		}
	}
	ct, _ := looseString(j.ChangeType)
	url, _ := looseString(j.ResourceURL)
	if url == "" {
		url, _ = looseString(j.Resource)
	}
	if ct != n.ChangeTypeRaw || url != n.ResourceURL {
		t.Fatalf("%q: changeType %q resourceUrl %q to the parser, %q %q to encoding/json", raw, n.ChangeTypeRaw, n.ResourceURL, ct, url)
	}
	var elems []json.RawMessage
	switch {
	case isNull(j.ResourceData):
	case j.ResourceData[0] == '[':
		if err := json.Unmarshal(j.ResourceData, &elems); err != nil {
			t.Fatal(err)
		}
	default:
		elems = []json.RawMessage{j.ResourceData}
	}
	if len(elems) != len(n.Resources) {
		t.Fatalf("%q: %d resources to the parser, %d to encoding/json", raw, len(n.Resources), len(elems))
	}
	for i := range elems {
		if !bytes.Equal(elems[i], n.Resources[i]) {
			t.Fatalf("%q: resource %d is %s to the parser, %s to encoding/json", raw, i, n.Resources[i], elems[i])
		}
	}
	for _, res := range n.Resources {
		if op, err := parseOperation(res); err == nil {
			checkOperationMeaning(t, res, op)
		}
	}
}

func FuzzDecodeMsg(f *testing.F) {
	f.Add("1.0", "id-1", "/src", "io.commsops.x", "subj é %", "2026-11-22T10:00:00Z", "c1", "application/json", []byte(`{}`))
	f.Add("1.0", "%4", "/src", "t", "", "", "", "", []byte(nil))
	f.Add("0.3", "id", "%zz", "t", "\x00", "not a time", "%FF", "json!", []byte("x"))
	f.Add("1.0", "a%20b", "%2Fs", "t%22", "%C3%A9", "2026-11-22T10:00:00.123456789+02:00", "%25", "text/plain; charset=utf-8", []byte("\xff"))
	// Header values of real events, and every payload as the body.
	for _, b := range testdataPayloads(f) {
		f.Add("1.0", "n-1", "/communications/calls/c", TypeOperationNotification, "", "", "", ContentTypeJSON, b)
		if n, err := ParseNotifications(b); err == nil {
			if ins, err := NotificationEvents(n, InboundOptions{MessageID: "m é"}); err == nil && len(ins) > 0 {
				if m, err := EncodeMsg(ins[0].Subject, ins[0].Event); err == nil {
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

func FuzzKey(f *testing.F) {
	cases := keyCases()
	for i, s := range cases {
		f.Add(s, cases[(i+1)%len(cases)])
	}
	for _, b := range testdataPayloads(f) {
		f.Add(string(b), string(b[:len(b)/2]))
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := checkKey(t, a), checkKey(t, b)
		if a != b && ka == kb {
			t.Fatalf("Key(%q) == Key(%q) == %q", a, b, ka)
		}
		if graphid.ValidateClientContext(a) == nil {
			for _, derived := range []string{operationKey("", b, a), operationKey("", a, b), operationKey("", a, ""), callKey(a), callKey(b)} {
				if derived == ka {
					t.Fatalf("Key(%q) meets a derived key", a)
				}
			}
		}
		if operationKey(a, b, b) != Key(a) && a != "" {
			t.Fatal("OperationKey with a clientContext is not its Key")
		}
		if graphid.NormalizeID(a) != graphid.NormalizeID(b) && operationKey("", a, b) == operationKey("", b, a) {
			t.Fatalf("operationKey(%q, %q) == operationKey(%q, %q)", a, b, b, a)
		}
	})
}
