package resolver

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/pkg/events"
)

// TestDecodeEvidenceFastPath: messages read straight from their headers give
// the same evidence as the full CloudEvents decoder, and what the fast path
// does not handle is decided by that decoder (accepted or poison alike).
func TestDecodeEvidenceFastPath(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	opts := inbound.Options{ReceivedAt: at, MessageID: "m 1", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	notification := []byte(`{"value":[{"changeType":"deleted","resourceUrl":"/communications/calls/57dab8b1-894c-409a-b240-bd8beae78896/operations/0fe0623f-d628-42ed-b4bd-8ac290072cc5",
		"resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","status":"completed","clientContext":"cc é 1",
		"resultInfo":{"code":200,"subcode":8510,"message":"Action completed."}}}]}`)
	n, err := graphwire.ParseNotifications(notification)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := inbound.NotificationEvents(n, opts)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"callId":"57dab8b1-894c-409a-b240-bd8beae78896","action":"playPrompt","clientContext":"cc-2","httpStatus":202,"operation":null}`)
	r, err := graphwire.ParseActionResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := inbound.ResponseEvent(r, body, opts)
	if err != nil {
		t.Fatal(err)
	}
	notifMsg, err := events.EncodeMsg(ins[0].Subject, ins[0].Event())
	if err != nil {
		t.Fatal(err)
	}
	respMsg, err := events.EncodeMsg(resp.Subject, resp.Event())
	if err != nil {
		t.Fatal(err)
	}
	stallMsg, err := stallCheckMsg(Emission{Kind: EmitStallSchedule, ID: "s1", Subject: "comms.in.sched.stall.k.x", At: at, Slot: "id:op 1", NewsSeq: 7, ClientCtx: "cc"})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(m *nats.Msg, f func(nats.Header)) nats.Header {
		h := nats.Header{}
		for k, v := range m.Header {
			h[k] = append([]string(nil), v...)
		}
		f(h)
		return h
	}
	tests := []struct {
		name   string
		h      nats.Header
		data   []byte
		fast   bool // read from the headers alone
		poison bool
	}{
		{"notification", notifMsg.Header, notifMsg.Data, true, false},
		{"response", respMsg.Header, respMsg.Data, true, false},
		{"stall check (percent-encoded slot)", stallMsg.Header, stallMsg.Data, false, false},
		{"mixed-case headers", edit(notifMsg, func(h nats.Header) {
			h["Ce-Id"], h["Ce-Type"] = h[events.HeaderID], h[events.HeaderType]
			delete(h, events.HeaderID)
			delete(h, events.HeaderType)
		}), notifMsg.Data, false, false},
		{"percent-encoded id", edit(respMsg, func(h nats.Header) { h[events.HeaderID] = []string{"a%20b"} }), respMsg.Data, false, false},
		{"specversion 0.3", edit(respMsg, func(h nats.Header) { h[events.HeaderSpecVersion] = []string{"0.3"} }), respMsg.Data, false, true},
		{"no id", edit(respMsg, func(h nats.Header) { delete(h, events.HeaderID) }), respMsg.Data, false, true},
		{"two ids", edit(respMsg, func(h nats.Header) { h[events.HeaderID] = []string{"a", "b"} }), respMsg.Data, false, false},
		{"bad time", edit(respMsg, func(h nats.Header) { h[events.HeaderTime] = []string{"yesterday"} }), respMsg.Data, false, true},
		{"time past year 9999 in UTC", edit(respMsg, func(h nats.Header) { h[events.HeaderTime] = []string{"9999-12-31T23:59:59-01:00"} }), respMsg.Data, true, true},
		{"unknown type", edit(respMsg, func(h nats.Header) { h[events.HeaderType] = []string{"io.example.other"} }), respMsg.Data, true, true},
		{"invalid data", respMsg.Header, []byte(`{"callId":`), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, fast := plainAttributes(tt.h); fast != tt.fast {
				t.Errorf("fast path taken: %v, want %v", fast, tt.fast)
			}
			got, err := DecodeEvidence(tt.h, tt.data, 42)
			var want *Evidence
			e, werr := events.DecodeMsg(tt.h, tt.data)
			if werr == nil {
				want, werr = EvidenceFromEvent(e, 42)
			}
			if tt.poison {
				if !errors.Is(err, ErrPoison) || werr == nil {
					t.Fatalf("err %v (full decoder: %v), want poison from both", err, werr)
				}
				return
			}
			if err != nil || werr != nil {
				t.Fatalf("err %v, full decoder %v", err, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("evidence differs from the full decoder's:\n got %+v\nwant %+v", got, want)
			}
			if got.ReceivedAt.IsZero() || got.EventID == "" || (got.Kind != events.SourceStallTimer && !strings.HasPrefix(got.TraceParent, "00-")) {
				t.Fatalf("attributes lost: %+v", got)
			}
		})
	}
}
