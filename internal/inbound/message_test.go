package inbound

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/graphwire/graphtest"
	"github.com/commsops/commsops/internal/randfill"
)

// checkMsgPinned asserts that the message Store publishes for in is the one
// the general codec writes for its SDK event, subject, every header and
// data, or is refused as the general codec refuses it; that the accessors
// read what the SDK event carries; and that Size counts the headers as it
// did on the SDK event.
// It returns whether the event is refused.
func checkMsgPinned(t testing.TB, in Inbound) (refused bool) {
	t.Helper()
	e := in.Event()
	got, gotErr := in.msg()
	want, wantErr := cehdr.EncodeMsg(in.Subject, e)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("msg: %v, EncodeMsg: %v", gotErr, wantErr)
	}
	if wantErr != nil {
		// EncodeMsg names the first bad attribute in map order: compare sentinels.
		if !errors.Is(gotErr, evterr.ErrNotCloudEvent) || !errors.Is(wantErr, evterr.ErrNotCloudEvent) {
			t.Fatalf("msg: %v, EncodeMsg: %v", gotErr, wantErr)
		}
		return true
	}
	if got.Subject != want.Subject || !bytes.Equal(got.Data, want.Data) || (got.Data == nil) != (want.Data == nil) {
		t.Fatalf("msg subject %q data %q, EncodeMsg subject %q data %q", got.Subject, got.Data, want.Subject, want.Data)
	}
	if !reflect.DeepEqual(got.Header, want.Header) {
		t.Fatalf("msg headers:\n%v\nEncodeMsg headers:\n%v", got.Header, want.Header)
	}
	if in.ID() != e.ID() || in.Type() != e.Type() || in.EventSubject() != e.Subject() || !bytes.Equal(in.Data(), e.Data()) {
		t.Fatalf("accessors id %q type %q subject %q, SDK event %q %q %q", in.ID(), in.Type(), in.EventSubject(), e.ID(), e.Type(), e.Subject())
	}
	if hs, want := in.headerSize(), sdkHeaderSize(e); hs != want || in.hdr != want {
		t.Fatalf("headerSize %d (kept %d), on the SDK event %d", hs, in.hdr, want)
	}
	return false
}

// sdkHeaderSize is headerSize as it was counted on the SDK event.
func sdkHeaderSize(e event.Event) int {
	const line = len(": \r\n")
	n := len("NATS/1.0\r\n") + len("\r\n")
	add := func(k, v string) { n += len(k) + line + cehdr.EncodedLen(v) }
	add(cehdr.HeaderSpecVersion, e.SpecVersion())
	add(cehdr.HeaderID, e.ID())
	add(cehdr.HeaderSource, e.Source())
	add(cehdr.HeaderType, e.Type())
	add(cehdr.HeaderSubject, e.Subject())
	add(cehdr.HeaderTime, "2006-01-02T15:04:05.999999999Z")
	add(cehdr.HeaderDataSchema, e.DataSchema())
	add(cehdr.HeaderContentType, e.DataContentType())
	for name, v := range e.Extensions() {
		s, _ := v.(string)
		add(cehdr.HeaderPrefix+name, s)
	}
	add("Nats-Msg-Id", e.ID())
	add("Nats-Expected-Stream", StreamIn)
	return n
}

// oddPieces are what randfill.String lacks and URLs and headers care about.
var oddPieces = []string{"%", "%41", "/", "//", "~", "a b", "x:y", "..", "?q#f", " ", "\t", "é", "\xff"}

// randomValue returns a random string: empty, plain, or full of bytes that
// need escaping in JSON, in a URL or in a header.
func randomValue(r *rand.Rand) string {
	s := randfill.String(r)
	for range r.IntN(3) {
		s += oddPieces[r.IntN(len(oddPieces))]
	}
	if r.IntN(3) == 0 {
		s += "0fe0623f-d628-42ed-b4bd-8ac290072cc5"
	}
	return s
}

// jsonString returns s as a JSON string literal, leaving bytes that are not
// UTF-8 as they are (graphwire decides what to make of them).
func jsonString(s string) string {
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = fmt.Appendf(b, `\u%04x`, c)
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

// randomOptions returns Options with a random receive time, message id and
// traceparent (valid, invalid or none).
func randomOptions(r *rand.Rand) Options {
	var o Options
	if r.IntN(4) > 0 {
		o.ReceivedAt = time.Date(1990+r.IntN(80), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60),
			[]int{0, r.IntN(1e9), 1e8, 5}[r.IntN(4)], time.FixedZone("", 3600*(r.IntN(25)-12)))
	}
	if r.IntN(2) == 0 {
		o.MessageID = randomValue(r)
	}
	switch r.IntN(3) {
	case 0:
		o.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	case 1:
		o.TraceParent = randomValue(r)
	}
	return o
}

// randomBodies returns callbacks and action responses built around random
// call ids, operation ids, clientContexts and changeTypes.
func randomBodies(r *rand.Rand) (notifications, responses []string) {
	v := func() string { return jsonString(randomValue(r)) }
	notifications = []string{
		`{"value":[{"changeType":` + v() + `,"resourceUrl":"/communications/calls/c1/operations/1","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":` + v() + `,"status":"running","clientContext":` + v() + `}}]}`,
		`{"value":[{"changeType":"updated","resourceUrl":"/communications/calls/` + randomPathSegment(r) + `/operations/` + randomPathSegment(r) + `","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","status":"completed","clientContext":` + v() + `}}]}`,
		`{"value":[{"changeType":` + v() + `,"resourceUrl":"/communications/calls/` + randomPathSegment(r) + `","resourceData":{"@odata.type":"#microsoft.graph.call","state":"established"}}]}`,
		`{"value":[{"changeType":"deleted","resourceUrl":"/communications/calls/` + randomPathSegment(r) + `/participants","resourceData":[{"@odata.type":"#microsoft.graph.participant","id":` + v() + `},{"@odata.type":"#microsoft.graph.participant"}]}]}`,
		`{"value":[{"changeType":"updated","resourceUrl":"/communications/calls/` + randomPathSegment(r) + `/operations/` + randomPathSegment(r) + `"}]}`,
	}
	responses = []string{
		`{"callId":` + v() + `,"action":"playPrompt","clientContext":` + v() + `,"httpStatus":202,"operation":{"id":` + v() + `,"status":"running","clientContext":` + v() + `}}`,
		`{"callId":` + v() + `,"action":"playPrompt","clientContext":` + v() + `,"httpStatus":202,"operation":null}`,
	}
	return notifications, responses
}

// randomPathSegment returns a call or operation id for a resourceUrl: a
// GUID, or random bytes as they may appear in a JSON string.
func randomPathSegment(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return "57DAB8B1894C409AB240BD8BEAE78896"
	}
	s := jsonString(randomValue(r))
	return s[1 : len(s)-1]
}

// TestMsgMatchesEncodeMsg: for every testdata payload and random callbacks
// and responses, with random options, the message Store publishes is the
// general codec's message of the SDK event, byte for byte.
func TestMsgMatchesEncodeMsg(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var pinned, parsed, refused int
	check := func(in Inbound) {
		if checkMsgPinned(t, in) {
			refused++
		}
		pinned++
		if !plainPath(in.source) {
			parsed++
		}
	}
	payloads := graphtest.Payloads(t)
	for i := range 3000 {
		bodies := [][]byte{payloads[i%len(payloads)]}
		ns, rs := randomBodies(r)
		for _, b := range append(ns, rs...) {
			bodies = append(bodies, []byte(b))
		}
		for _, body := range bodies {
			o := randomOptions(r)
			if n, err := graphwire.ParseNotifications(body); err == nil {
				if ins, err := NotificationEvents(n, o); err == nil {
					for _, in := range ins {
						check(in)
					}
				}
			}
			if p, err := graphwire.ParseActionResponse(body); err == nil {
				if in, err := ResponseEvent(p, body, o); err == nil {
					check(in)
				}
			}
		}
	}
	// The random inputs must reach both paths, else this test pins little.
	if pinned < 10000 || parsed < 100 {
		t.Fatalf("%d events pinned, %d with a source sdkSource parses, %d refused", pinned, parsed, refused)
	}
	t.Logf("%d events pinned, %d with a source sdkSource parses, %d refused", pinned, parsed, refused)
}

// TestMsgRefusesAsEncodeMsg: an event the general codec refuses (which the
// constructors never make) is refused by msg too, with the same sentinel.
func TestMsgRefusesAsEncodeMsg(t *testing.T) {
	body := []byte(`{"callId":"c","action":"playPrompt","clientContext":"cc","httpStatus":202,"operation":null}`)
	p, err := graphwire.ParseActionResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	valid, err := ResponseEvent(p, body, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if checkMsgPinned(t, valid) {
		t.Fatal("a valid response refused")
	}
	for _, tc := range []struct {
		name   string
		change func(*Inbound)
	}{
		{"extension not UTF-8", func(in *Inbound) { in.ext.clientContext = "cc\xff" }},
		{"subject not UTF-8", func(in *Inbound) { in.subject = "\xfe" }},
		{"source that does not parse", func(in *Inbound) { in.source = "/calls/%zz" }},
		{"blank id", func(in *Inbound) { in.id = " " }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := valid
			tc.change(&in)
			in.hdr = in.headerSize()
			if !checkMsgPinned(t, in) {
				t.Fatal("accepted")
			}
		})
	}
}
