package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/graphwire/graphtest"
	"github.com/commsops/commsops/internal/keys"
)

// Fuzz targets. Run one with, e.g.:
//
//	go test -run='^$' -fuzz=FuzzParseNotifications -fuzztime=20s ./internal/inbound/
//
// Every payload of internal/graphwire's testdata is a seed; inputs that once
// failed are kept under testdata/fuzz/<target>/ and replayed by every
// `go test`.

func seedPayloads(f *testing.F) {
	for _, b := range graphtest.Payloads(f) {
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
	e := in.Event()
	m, err := cehdr.EncodeMsg(in.Subject, e)
	if err != nil {
		t.Fatalf("accepted input yields an unencodable event: %v", err)
	}
	checkMsgPinned(t, in)
	back, err := cehdr.DecodeMsg(m.Header, m.Data)
	if err != nil {
		t.Fatalf("accepted input yields an event no consumer can decode: %v", err)
	}
	if back.ID() != e.ID() || back.Type() != e.Type() || back.Subject() != e.Subject() ||
		back.Source() != e.Source() || !bytes.Equal(back.Data(), e.Data()) {
		t.Fatalf("the event changed in transit:\n%v\n%v", e, back)
	}
	return back
}

// checkResourceIDs asserts graphwire.ResourceIDs, which NotificationEvents
// keys operations with, reads and refuses a resource as ParseResource does.
func checkResourceIDs(t *testing.T, res []byte) {
	t.Helper()
	id, cc, err := graphwire.ResourceIDs(res)
	op, opErr := graphwire.ParseResource(res)
	switch {
	case (err == nil) != (opErr == nil) || err != nil && err.Error() != opErr.Error():
		t.Fatalf("ResourceIDs(%q): %v, ParseResource: %v", res, err, opErr)
	case err == nil && (id != op.ID || cc != op.ClientContext):
		t.Fatalf("ResourceIDs(%q) = %q, %q, ParseResource %q, %q", res, id, cc, op.ID, op.ClientContext)
	}
}

func FuzzParseNotifications(f *testing.F) {
	seedPayloads(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := graphwire.ParseNotifications(body)
		if err != nil {
			if n != nil {
				t.Fatal("a result beside an error")
			}
			checkRejected(t, "graphwire.ParseNotifications", err)
			return
		}
		for _, item := range n.Items {
			for _, res := range item.Resources {
				if graphwire.ResourceKind(resourceTypeOf(res), item.Path) != graphwire.KindOperation {
					continue
				}
				if _, err := graphwire.ParseOperation(res); err != nil {
					checkRejected(t, "ParseOperation", err)
				}
			}
			for _, res := range item.Resources {
				checkResourceIDs(t, res)
			}
		}
		ins, err := NotificationEvents(n, Options{MessageID: "m"})
		if err != nil {
			checkRejected(t, "NotificationEvents", err)
			return
		}
		again, _ := graphwire.ParseNotifications(body)
		insAgain, err := NotificationEvents(again, Options{})
		if err != nil || len(insAgain) != len(ins) {
			t.Fatalf("not deterministic: %v", err)
		}
		for i, in := range ins {
			if insAgain[i].Event().ID() != in.Event().ID() || insAgain[i].Subject != in.Subject {
				t.Fatalf("event %d: id or subject not deterministic", i)
			}
			back := checkInbound(t, in)
			if in.Kind != graphwire.KindOperation {
				continue
			}
			// The resolver parses what was stored: it must never be poison.
			item, err := graphwire.ParseNotificationItem(back.Data())
			if err != nil {
				t.Fatalf("stored operation notification does not parse back: %v", err)
			}
			if len(item.Resources) > 0 {
				if _, err := graphwire.ParseOperation(item.Resources[0]); err != nil {
					t.Fatalf("stored operation does not parse back: %v", err)
				}
			}
		}
	})
}

func FuzzParseActionResponse(f *testing.F) {
	seedPayloads(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := graphwire.ParseActionResponse(body)
		if err != nil {
			if r != nil {
				t.Fatal("a result beside an error")
			}
			checkRejected(t, "graphwire.ParseActionResponse", err)
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
		in, err := ResponseEvent(r, body, Options{})
		if errors.Is(err, evterr.ErrValueTooLong) {
			return // an id too long for a header: refused, 400
		}
		if err != nil {
			t.Fatalf("accepted response yields no event: %v", err)
		}
		opID := ""
		if r.Op != nil {
			opID = r.Op.ID
		}
		if in.Key != keys.OperationKey(r.ClientContext, r.NormalizedCallID(), opID) {
			t.Fatalf("key %q", in.Key)
		}
		back := checkInbound(t, in)
		// The resolver parses what was stored: the same response again.
		r2, err := graphwire.ParseActionResponse(back.Data())
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
		if op, err := graphwire.ParseOperation(body); err == nil {
			checkOperationMeaning(t, body, op)
		}
		if r, err := graphwire.ParseActionResponse(body); err == nil {
			var want graphwire.ActionResponse
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
		n, err := graphwire.ParseNotifications(body)
		if err != nil {
			return
		}
		for i, item := range n.Items {
			checkItemMeaning(t, item.Raw, &n.Items[i])
		}
		ins, err := NotificationEvents(n, Options{})
		if err != nil {
			return
		}
		for _, in := range ins {
			// What a subscriber reads from the stored event is what the
			// event was keyed and typed by.
			item, err := graphwire.ParseNotificationItem(in.Event().Data())
			if err != nil {
				t.Fatalf("stored item does not parse: %v", err)
			}
			checkItemMeaning(t, in.Event().Data(), item)
			if in.Kind != graphwire.KindOperation || len(item.Resources) == 0 {
				continue
			}
			var stored jsonItem
			var op jsonOperation
			if json.Unmarshal(in.Event().Data(), &stored) != nil || json.Unmarshal(stored.ResourceData, &op) != nil {
				t.Fatalf("stored item %q: encoding/json cannot read it", in.Event().Data())
			}
			cc, _ := looseString(op.ClientContext)
			if ext, _ := in.Event().Extensions()[ExtClientContext].(string); ext != cc {
				t.Fatalf("event keyed by clientContext %q, encoding/json reads %q from its data %q", ext, cc, in.Event().Data())
			}
		}
	})
}

// checkOperationMeaning fails unless encoding/json and a map reader read
// data, which ParseOperation made op of, with op's meaning.
func checkOperationMeaning(t *testing.T, data []byte, op *graphwire.Operation) {
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
func checkItemMeaning(t *testing.T, raw []byte, n *graphwire.Notification) {
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
		if op, err := graphwire.ParseResource(res); err == nil {
			checkOperationMeaning(t, res, op)
		}
	}
}
