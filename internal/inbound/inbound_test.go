package inbound

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/graphwire/graphtest"
)

// natsHeaderLen is the size of h on the wire, as nats.go writes it.
func natsHeaderLen(h nats.Header) int {
	n := len("NATS/1.0\r\n") + len("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n
}

// TestInboundSize: Size counts what JetStream stores for an event (its data
// and the headers EncodeMsg and the Publisher write), erring high by at most
// a few bytes per header.
func TestInboundSize(t *testing.T) {
	var ins []Inbound
	for _, name := range graphtest.Files(t, "notifications") {
		n, err := graphwire.ParseNotifications(graphtest.Read(t, "notifications/"+name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		more, err := NotificationEvents(n, Options{MessageID: "5f3c1a2b-0000-4000-8000-000000000000",
			TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ins = append(ins, more...)
	}
	for _, in := range ins {
		m, err := cehdr.EncodeMsg(in.Subject, in.Event())
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Set("Nats-Msg-Id", in.Event().ID())
		m.Header.Set("Nats-Expected-Stream", StreamIn)
		actual := natsHeaderLen(m.Header) + len(m.Data)
		if got := in.Size(); got < actual || got > actual+64 {
			t.Fatalf("%s: Size %d, encoded %d", in.Event().ID(), got, actual)
		}
	}
}

// TestNarrowedItemIsExact: each resource of an array resourceData is stored
// as its item with resourceData narrowed to it and every other byte as sent
// (order, white space, escapes; encoding/json used to re-sort and escape
// them), and DataSize predicts the stored data exactly.
func TestNarrowedItemIsExact(t *testing.T) {
	item := `{ "resourceUrl" : "/communications/calls/c1/participants", "x<&>" : "a\u00e9b",` +
		` "resourceData" : [ {"@odata.type":"#microsoft.graph.participant","id":"p1"} ,{"id":"p2"} ], "changeType":"updated" }`
	body := `{"value":[` + item + `,{"resourceUrl":"/communications/calls/c1","resourceData":[]}]}`
	n, err := graphwire.ParseNotifications([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := NotificationEvents(n, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		strings.Replace(item, `[ {"@odata.type":"#microsoft.graph.participant","id":"p1"} ,{"id":"p2"} ]`, `{"@odata.type":"#microsoft.graph.participant","id":"p1"}`, 1),
		strings.Replace(item, `[ {"@odata.type":"#microsoft.graph.participant","id":"p1"} ,{"id":"p2"} ]`, `{"id":"p2"}`, 1),
		`{"resourceUrl":"/communications/calls/c1","resourceData":null}`,
	}
	if len(ins) != len(want) {
		t.Fatalf("%d events, want %d", len(ins), len(want))
	}
	total := 0
	for i, in := range ins {
		if got := string(in.Event().Data()); got != want[i] {
			t.Errorf("event %d data\n%s\nwant\n%s", i, got, want[i])
		}
		total += len(in.Event().Data())
	}
	if size, count := DataSize(n); size != total || count != len(ins) {
		t.Fatalf("DataSize %d, %d; stored %d bytes in %d events", size, count, total, len(ins))
	}
}

// TestLongIDsRefused: a value that becomes an event header is refused over
// MaxIDLen bytes with evterr.ErrValueTooLong, and a message id that is not UTF-8
// with evterr.ErrInvalidPayload: nothing that cannot be stored reaches the store.
func TestLongIDsRefused(t *testing.T) {
	long := strings.Repeat("%", MaxIDLen+1)
	item := func(url, changeType string) string {
		return fmt.Sprintf(`{"value":[{"changeType":%q,"resourceUrl":%q,"resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5","status":"running","clientContext":"cc"}}]}`, changeType, url)
	}
	ok := item("/communications/calls/c1/operations/0fe0623f-d628-42ed-b4bd-8ac290072cc5", "updated")
	for _, tc := range []struct {
		name, body string
		o          Options
		want       error
	}{
		{"call id", item("/communications/calls/"+long+"/operations/x", "updated"), Options{}, evterr.ErrValueTooLong},
		{"changeType", item("/communications/calls/c1", long), Options{}, evterr.ErrValueTooLong},
		{"operation id", strings.Replace(ok, `"id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5"`, `"id":"`+long+`"`, 1), Options{}, evterr.ErrValueTooLong},
		{"message id", ok, Options{MessageID: long}, evterr.ErrValueTooLong},
		{"message id not UTF-8", ok, Options{MessageID: "a\xffb"}, evterr.ErrInvalidPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := graphwire.ParseNotifications([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			_, err = NotificationEvents(n, tc.o)
			if !errors.Is(err, tc.want) || strings.Contains(err.Error(), long) {
				t.Fatalf("err = %v, want %v quoting a short prefix", err, tc.want)
			}
		})
	}
	n, _ := graphwire.ParseNotifications([]byte(ok))
	if _, err := NotificationEvents(n, Options{MessageID: strings.Repeat("m", MaxIDLen)}); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
}

// TestTraceParent: a valid W3C traceparent is carried; anything else is
// ignored, as the trace-context specification tells a receiver to.
func TestTraceParent(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		tp   string
		kept bool
	}{
		{valid, true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", true},
		{"", false},
		{valid + "-x", false},           // version 00 has exactly four fields
		{strings.ToUpper(valid), false}, // lower-case hex only
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\xff", false},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-\xff", false},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + strings.Repeat("x", 600), false},
	} {
		t.Run(tc.tp, func(t *testing.T) {
			body := []byte(`{"callId":"c","action":"playPrompt","clientContext":"cc","httpStatus":202,"operation":null}`)
			r, err := graphwire.ParseActionResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			in, err := ResponseEvent(r, body, Options{TraceParent: tc.tp})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := in.Event().Extensions()[ExtTraceParent].(string)
			if (got == tc.tp && tc.tp != "") != tc.kept || (!tc.kept && got != "") {
				t.Fatalf("stored %q", got)
			}
		})
	}
}

// TestDuplicateMembersRefused: every parser refuses an object naming one
// known field twice, in the same or another casing (encoding/json would
// keep the last, a map reader another), and Graph's own objects a known
// field in another casing; unknown fields may repeat.
func TestDuplicateMembersRefused(t *testing.T) {
	const op = `"@odata.type":"#microsoft.graph.playPromptOperation","id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5"`
	for _, tc := range []struct {
		name, body string
		parse      func([]byte) error
		dup        bool
	}{
		{"operation clientContext casings", `{` + op + `,"clientContext":"victim-cc","ClientContext":"other-cc"}`, parseOp, true},
		{"operation status twice", `{` + op + `,"status":"running","status":"failed"}`, parseOp, true},
		{"operation status folded", `{` + op + `,"status":"running","ſtatus":"failed"}`, parseOp, true},
		{"resultInfo code", `{` + op + `,"resultInfo":{"code":200,"Code":500}}`, parseOp, true},
		{"operation unknown twice", `{` + op + `,"x":1,"x":2,"status":"running"}`, parseOp, false},
		{"status in another casing", `{` + op + `,"Status":"failed"}`, parseOp, true},
		{"resourceUrl in another casing", `{"value":[{"ResourceUrl":"/communications/calls/b"}]}`, parseNotif, true},
		{"envelope in another casing", `{"CallId":"c","Action":"a","HttpStatus":202,"ClientContext":"a","Operation":null}`, parseResp, false},
		{"resultInfo in another casing", `{` + op + `,"resultInfo":{"Code":200}}`, parseOp, false},
		{"envelope", `{"callId":"c","action":"a","httpStatus":202,"clientContext":"a","CLIENTCONTEXT":"b","operation":null}`, parseResp, true},
		{"envelope httpStatus", `{"callId":"c","action":"a","httpStatus":202,"httpStatus":500,"clientContext":"a","operation":null}`, parseResp, true},
		{"callback value", `{"value":[],"Value":[{"resourceUrl":"/communications/calls/c"}]}`, parseNotif, true},
		{"item resourceData", `{"value":[{"resourceUrl":"/communications/calls/c","resourceData":{"id":"a"},"resourceData":{"id":"b"}}]}`, parseNotif, true},
		{"item resourceUrl", `{"value":[{"resourceUrl":"/communications/calls/a","ResourceUrl":"/communications/calls/b"}]}`, parseNotif, true},
		{"resource @odata.type", `{"value":[{"resourceUrl":"/communications/calls/c","resourceData":{"@odata.type":"#microsoft.graph.participant","@odata.Type":"#microsoft.graph.playPromptOperation","id":"x"}}]}`, parseNotif, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse([]byte(tc.body))
			if got := errors.Is(err, evterr.ErrDuplicateMember); got != tc.dup {
				t.Fatalf("err = %v, want duplicate %v", err, tc.dup)
			}
			if !tc.dup && err != nil {
				t.Fatal(err)
			}
		})
	}
}

func parseOp(b []byte) error { _, err := graphwire.ParseOperation(b); return err }

func parseResp(b []byte) error { _, err := graphwire.ParseActionResponse(b); return err }

func parseNotif(b []byte) error {
	n, err := graphwire.ParseNotifications(b)
	if err != nil {
		return err
	}
	_, err = NotificationEvents(n, Options{})
	return err
}
