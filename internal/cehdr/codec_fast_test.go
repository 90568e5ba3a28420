package cehdr_test

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/randfill"
	"github.com/commsops/commsops/internal/stallcheck"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// fastEvent is one event in both forms: the attribute pairs cehdr.EncodeJSONMsg
// takes and the SDK event cehdr.EncodeMsg takes.
type fastEvent struct {
	attrs []string
	sdk   event.Event
}

// randomFastEvent returns a resolved event or a stall check, the two shapes
// the resolver writes, with random values (empty, needing escapes, invalid
// UTF-8) wherever the resolver does not fix them.
func randomFastEvent(r *rand.Rand) fastEvent {
	id := "id-" + randfill.String(r)
	subject := randfill.String(r)
	var at time.Time
	if r.IntN(3) > 0 {
		at = time.Date(2000+r.IntN(50), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9),
			time.FixedZone("", 3600*(r.IntN(25)-12)))
	}
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id)
	if subject != "" {
		e.SetSubject(subject)
	}
	e.SetTime(at)
	var attrs []string
	if r.IntN(2) == 0 {
		status := []events.Status{events.StatusRunning, events.StatusCompleted, events.StatusFailed, events.StatusStalled}[r.IntN(4)]
		source := subjects.ResolvedSource("call " + randfill.String(r))
		traceParent := randfill.String(r)
		e.SetType(subjects.ResolvedType(string(status)))
		e.SetSource(source)
		if traceParent != "" {
			e.SetExtension(events.ExtTraceParent, traceParent)
		}
		attrs = []string{cehdr.HeaderID, id, cehdr.HeaderSource, source, cehdr.HeaderType, subjects.ResolvedType(string(status)),
			cehdr.HeaderSubject, subject, cehdr.HeaderTime, cehdr.TimeAttr(at), "ce-" + events.ExtTraceParent, traceParent}
	} else {
		slot := "id:" + randfill.String(r)
		news := strconv.FormatUint(r.Uint64(), 10)
		e.SetType(stallcheck.Type)
		e.SetSource("/commsops/resolver")
		e.SetExtension(stallcheck.ExtSlot, slot)
		e.SetExtension(stallcheck.ExtNewsSeq, news)
		attrs = []string{cehdr.HeaderID, id, cehdr.HeaderSource, "/commsops/resolver", cehdr.HeaderType, stallcheck.Type,
			cehdr.HeaderSubject, subject, cehdr.HeaderTime, cehdr.TimeAttr(at), "ce-" + stallcheck.ExtSlot, slot, "ce-" + stallcheck.ExtNewsSeq, news}
	}
	if err := e.SetData(events.ContentTypeJSON, []byte(`{"x":1}`)); err != nil {
		panic(err)
	}
	return fastEvent{attrs: attrs, sdk: e}
}

// TestEncodeJSONMsgMatchesEncodeMsg: the fast encoder writes the headers
// cehdr.EncodeMsg writes for the same event, and refuses what it refuses.
func TestEncodeJSONMsgMatchesEncodeMsg(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 4000 {
		fe := randomFastEvent(r)
		got, err := cehdr.EncodeJSONMsg("subj", fe.sdk.Data(), fe.attrs...)
		want, wantErr := cehdr.EncodeMsg("subj", fe.sdk)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("event %d %v: err %v, cehdr.EncodeMsg %v", i, fe.attrs, err, wantErr)
		}
		if err != nil {
			continue
		}
		if got.Subject != want.Subject || string(got.Data) != string(want.Data) || !reflect.DeepEqual(got.Header, want.Header) {
			t.Fatalf("event %d:\n got %v %q\nwant %v %q", i, got.Header, got.Data, want.Header, want.Data)
		}
	}
	for _, missing := range []string{cehdr.HeaderID, cehdr.HeaderSource, cehdr.HeaderType} {
		attrs := []string{cehdr.HeaderID, "i", cehdr.HeaderSource, "/s", cehdr.HeaderType, "t"}
		for j := 0; j < len(attrs); j += 2 {
			if attrs[j] == missing {
				attrs[j+1] = ""
			}
		}
		if _, err := cehdr.EncodeJSONMsg("subj", nil, attrs...); err == nil {
			t.Errorf("an event without %s was encoded", missing)
		}
	}
}

// TestReadAttributesMatchesDecodeMsg: on what cehdr.EncodeMsg writes, the fast
// reader takes every message without percent-encoded values, and reads what
// cehdr.DecodeMsg reads.
func TestReadAttributesMatchesDecodeMsg(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	taken := 0
	for i := range 4000 {
		fe := randomFastEvent(r)
		msg, err := cehdr.EncodeMsg("subj", fe.sdk)
		if err != nil {
			continue // not UTF-8: never stored
		}
		e, err := cehdr.DecodeMsg(msg.Header, msg.Data)
		if err != nil {
			t.Fatalf("event %d: cehdr.DecodeMsg refuses what cehdr.EncodeMsg wrote: %v", i, err)
		}
		a, ok := cehdr.ReadAttributes(msg.Header)
		if !ok {
			if !percentEncoded(msg.Header) {
				t.Fatalf("event %d: plain headers %v not read", i, msg.Header)
			}
			continue
		}
		taken++
		ext := e.Extensions()
		want := cehdr.Attributes{ID: e.ID(), Type: e.Type(), Time: e.Time().UTC()}
		want.TraceParent, _ = ext[events.ExtTraceParent].(string)
		want.Slot, _ = ext[stallcheck.ExtSlot].(string)
		want.NewsSeq, _ = ext[stallcheck.ExtNewsSeq].(string)
		if !reflect.DeepEqual(a, want) {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, a, want)
		}
	}
	if taken < 200 {
		t.Errorf("only %d of 4000 events read by the fast path: the generator misses plain ones", taken)
	}
}

// percentEncoded reports whether any header value holds a percent-encoding.
func percentEncoded(h nats.Header) bool {
	for _, v := range h {
		for _, s := range v {
			if strings.IndexByte(s, '%') >= 0 {
				return true
			}
		}
	}
	return false
}
