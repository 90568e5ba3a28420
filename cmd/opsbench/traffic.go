package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/commsops/commsops/pkg/events"
)

// callID is the Graph call every generated operation belongs to.
const callID = "57dab8b1-894c-409a-b240-bd8beae78896"

// opTypes are the operation types generated, with the action that starts each.
var opTypes = []struct{ typ, action string }{
	{"playPromptOperation", "playPrompt"},
	{"recordOperation", "record"},
	{"muteParticipantOperation", "mute"},
	{"subscribeToToneOperation", "subscribeToTone"},
}

// operation is one generated commsOperation.
type operation struct {
	cc, id       string
	typ, action  string
	evidenceSent int // pieces of evidence generated for it (before duplicates)
}

// evidence is one piece of what Graph and the bot send about an operation: the
// action response (response true) or a notification.
type evidence struct {
	op       *operation
	response bool
	status   string
	etag     int
}

// traffic builds ops operations of 2 or 3 pieces of evidence each, the way
// internal/e2e/property_test.go does: a share of the operations shares
// clientContexts (about five per context, as Microsoft's samples reuse them),
// a share has its terminal notification before the action response (the
// race), the evidence of all operations is interleaved at random, and a share
// of the items is sent again later with a new etag (Graph redelivering beyond
// the stream's duplicate window, so the resolver and not the stream must
// absorb them). The same seed gives the same traffic.
func traffic(o Options, seed uint64) ([]*operation, []evidence) {
	r := rand.New(rand.NewPCG(seed, 0x6f7073))
	ops := make([]*operation, o.Ops)
	contexts := max(1, int(math.Round(o.SharedCC*float64(o.Ops)/5)))
	var lists [][]evidence
	for i := range ops {
		t := opTypes[r.IntN(len(opTypes))]
		op := &operation{id: fmt.Sprintf("%08x-0000-4000-8000-%012x", r.Uint32(), i), typ: t.typ, action: t.action}
		if r.Float64() < o.SharedCC {
			op.cc = "shared-" + strconv.Itoa(r.IntN(contexts))
		} else {
			op.cc = fmt.Sprintf("cc-%d-%08x", i, r.Uint32())
		}
		terminal := []string{"completed", "failed"}[r.IntN(2)]
		ev := []evidence{{op: op, response: true, status: "running"}, {op: op, status: terminal}}
		if r.IntN(3) == 0 {
			ev = []evidence{{op: op, response: true, status: "notStarted"}, {op: op, status: "running"}, {op: op, status: terminal}}
		}
		if r.Float64() < o.RaceShare { // the race: the completion before the response
			ev[0], ev[len(ev)-1] = ev[len(ev)-1], ev[0]
		}
		op.evidenceSent = len(ev)
		ops[i] = op
		lists = append(lists, ev)
	}
	seq := make([]evidence, 0, int(float64(3*o.Ops)*(1+o.DupShare)))
	for len(lists) > 0 {
		i := r.IntN(len(lists))
		seq = append(seq, lists[i][0])
		if lists[i] = lists[i][1:]; len(lists[i]) == 0 {
			lists[i] = lists[len(lists)-1]
			lists = lists[:len(lists)-1]
		}
	}
	// Duplicates: copies of random items, each inserted at a random place
	// after its original.
	type dup struct {
		at int // inserted before seq[at] (len(seq): at the end)
		e  evidence
	}
	dups := make([]dup, int(float64(len(seq))*o.DupShare))
	for k := range dups {
		j := r.IntN(len(seq))
		dups[k] = dup{at: j + 1 + r.IntN(len(seq)-j), e: seq[j]}
	}
	slices.SortStableFunc(dups, func(a, b dup) int { return a.at - b.at })
	merged := make([]evidence, 0, len(seq)+len(dups))
	for i := 0; i <= len(seq); i++ {
		for len(dups) > 0 && dups[0].at == i {
			merged = append(merged, dups[0].e)
			dups = dups[1:]
		}
		if i < len(seq) {
			merged = append(merged, seq[i])
		}
	}
	seq = merged
	for i := range seq {
		seq[i].etag = i // a new etag for each copy: new content, new id
	}
	return ops, seq
}

// model applies the contract's semantics to seq in stream order: per
// operation, a status is emitted when it ranks above everything seen before
// it. It returns the statuses per operation and their total.
func model(seq []evidence) (map[*operation][]events.Status, int) {
	want := map[*operation][]events.Status{}
	best := map[*operation]int{}
	n := 0
	for _, e := range seq {
		s, err := events.ParseStatus(e.status)
		if err != nil {
			panic(err)
		}
		if s.Rank() > best[e.op] {
			best[e.op] = s.Rank()
			want[e.op] = append(want[e.op], s)
			n++
		}
	}
	return want, n
}

func upperNoDash(id string) string { return strings.ToUpper(strings.ReplaceAll(id, "-", "")) }

// resource is the operation resource as Graph renders it.
func (e evidence) resource() map[string]any {
	r := map[string]any{
		"@odata.type":   "#microsoft.graph." + e.op.typ,
		"@odata.etag":   `W/"` + strconv.Itoa(e.etag) + `"`,
		"id":            e.op.id,
		"clientContext": e.op.cc,
		"status":        e.status,
	}
	if e.status == "completed" || e.status == "failed" {
		r["resultInfo"] = map[string]any{"@odata.type": "#microsoft.graph.resultInfo", "code": 200, "subcode": 8510,
			"message": "Action completed successfully."}
		if e.status == "failed" {
			r["resultInfo"] = map[string]any{"@odata.type": "#microsoft.graph.resultInfo", "code": 400, "subcode": 8506,
				"message": "Action failed."}
		}
	}
	return r
}

// body renders evidence as the HTTP request the ingest receives: the route
// and the body.
func (e evidence) body() (route string, b []byte) {
	if e.response {
		b, _ = json.Marshal(map[string]any{"callId": callID, "action": e.op.action, "clientContext": e.op.cc,
			"httpStatus": 200, "operation": e.resource(), "sentAt": "2026-11-22T10:00:00.000Z"})
		return "/v1/responses", b
	}
	changeType := "updated"
	if e.status == "completed" || e.status == "failed" {
		changeType = "deleted"
	}
	b, _ = json.Marshal(map[string]any{"@odata.type": "#microsoft.graph.commsNotifications", "value": []any{map[string]any{
		"@odata.type":  "#microsoft.graph.commsNotification",
		"changeType":   changeType,
		"resourceUrl":  "/communications/calls/" + upperNoDash(callID) + "/operations/" + upperNoDash(e.op.id),
		"resourceData": e.resource()}}})
	return "/v1/notifications", b
}

// inbound renders evidence as the events the ingest stores for it, parsed and
// split by pkg/events exactly as the ingest does.
func (e evidence) inbound() ([]events.Inbound, error) {
	route, b := e.body()
	if route == "/v1/responses" {
		p, err := events.ParseActionResponse(b)
		if err != nil {
			return nil, err
		}
		in, err := events.ResponseEvent(p, b, events.InboundOptions{})
		return []events.Inbound{in}, err
	}
	n, err := events.ParseNotifications(b)
	if err != nil {
		return nil, err
	}
	return events.NotificationEvents(n, events.InboundOptions{})
}

// renderAll renders every piece of evidence as the events the ingest stores.
func renderAll(seq []evidence) ([]events.Inbound, error) {
	out := make([]events.Inbound, 0, len(seq))
	for _, e := range seq {
		in, err := e.inbound()
		if err != nil {
			return nil, fmt.Errorf("render evidence: %w", err)
		}
		out = append(out, in...)
	}
	return out, nil
}

// notificationBody renders a one-resource operation callback cheaply, for
// the load generators (a distinct operation per request, so the stream's
// duplicate window never absorbs one).
func notificationBody(buf []byte, opID, cc, status string) []byte {
	buf = append(buf[:0], `{"@odata.type":"#microsoft.graph.commsNotifications","value":[{"@odata.type":"#microsoft.graph.commsNotification","changeType":"updated","resourceUrl":"/communications/calls/`...)
	buf = append(buf, upperNoDash(callID)...)
	buf = append(buf, "/operations/"...)
	buf = append(buf, upperNoDash(opID)...)
	buf = append(buf, `","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","@odata.etag":"W/\"1\"","id":"`...)
	buf = append(buf, opID...)
	buf = append(buf, `","clientContext":"`...)
	buf = append(buf, cc...)
	buf = append(buf, `","status":"`...)
	buf = append(buf, status...)
	buf = append(buf, `"}}]}`...)
	return buf
}

// responseBody renders an action response with a running playPrompt operation.
func responseBody(buf []byte, opID, cc string) []byte {
	buf = append(buf[:0], `{"callId":"`...)
	buf = append(buf, callID...)
	buf = append(buf, `","action":"playPrompt","clientContext":"`...)
	buf = append(buf, cc...)
	buf = append(buf, `","httpStatus":200,"operation":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"`...)
	buf = append(buf, opID...)
	buf = append(buf, `","status":"running","clientContext":"`...)
	buf = append(buf, cc...)
	buf = append(buf, `"},"sentAt":"2026-11-22T10:00:00.000Z"}`...)
	return buf
}

// completionBody renders the completion notification of a playPrompt operation.
func completionBody(buf []byte, opID, cc string) []byte {
	buf = append(buf[:0], `{"@odata.type":"#microsoft.graph.commsNotifications","value":[{"@odata.type":"#microsoft.graph.commsNotification","changeType":"deleted","resourceUrl":"/communications/calls/`...)
	buf = append(buf, upperNoDash(callID)...)
	buf = append(buf, "/operations/"...)
	buf = append(buf, upperNoDash(opID)...)
	buf = append(buf, `","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"`...)
	buf = append(buf, opID...)
	buf = append(buf, `","clientContext":"`...)
	buf = append(buf, cc...)
	buf = append(buf, `","status":"completed","resultInfo":{"@odata.type":"#microsoft.graph.resultInfo","code":200,"subcode":8510,"message":"Action completed successfully."}}}]}`...)
	return buf
}

// opID returns a distinct operation id for n, in Graph's GUID shape.
func opID(prefix uint32, n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", prefix, n)
}
