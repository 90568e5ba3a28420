package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/commsops/commsops/pkg/events"
)

const callID = "57dab8b1-894c-409a-b240-bd8beae78896"

type operation struct {
	cc, id string
}

type evidence struct {
	op       *operation
	response bool
	status   string
	etag     int
}

// traffic builds ops operations of 2-3 events each, with a share of races
// (completion first), of shared clientContexts (about five operations each)
// and of duplicates (re-sent later with a new etag, so the resolver and not
// the stream must absorb them), randomly interleaved.
func traffic(o Options, seed uint64) ([]*operation, []evidence) {
	r := rand.New(rand.NewPCG(seed, seed))
	ops := make([]*operation, o.Ops)
	var lists [][]evidence
	for i := range ops {
		op := &operation{id: fmt.Sprintf("%08x-0000-4000-8000-%012x", r.Uint32(), i)}
		if r.Float64() < o.SharedCC {
			op.cc = fmt.Sprintf("shared-%d", r.IntN(max(1, o.Ops/20)))
		} else {
			op.cc = fmt.Sprintf("cc-%d-%d", i, seed)
		}
		terminal := []string{"completed", "failed"}[r.IntN(2)]
		ev := []evidence{{op, true, "running", 0}, {op, false, terminal, 0}}
		if r.IntN(3) == 0 {
			ev = []evidence{{op, true, "notStarted", 0}, {op, false, "running", 0}, {op, false, terminal, 0}}
		}
		if r.Float64() < o.RaceShare {
			ev[0], ev[len(ev)-1] = ev[len(ev)-1], ev[0]
		}
		ops[i] = op
		lists = append(lists, ev)
	}
	var seq []evidence
	for len(lists) > 0 {
		i := r.IntN(len(lists))
		seq = append(seq, lists[i][0])
		if lists[i] = lists[i][1:]; len(lists[i]) == 0 {
			lists = slices.Delete(lists, i, i+1)
		}
	}
	for k := int(float64(len(seq)) * o.DupShare); k > 0; k-- {
		seq = slices.Insert(seq, r.IntN(len(seq)+1), seq[r.IntN(len(seq))])
	}
	for i := range seq {
		seq[i].etag = i
	}
	return ops, seq
}

// model returns, per operation, the statuses the contract says are emitted:
// in stream order, each status ranking above everything seen before.
func model(seq []evidence) (map[*operation][]events.Status, int) {
	want := map[*operation][]events.Status{}
	best := map[*operation]int{}
	n := 0
	for _, e := range seq {
		s, _ := events.ParseStatus(e.status)
		if s.Rank() > best[e.op] {
			best[e.op] = s.Rank()
			want[e.op] = append(want[e.op], s)
			n++
		}
	}
	return want, n
}

// body renders evidence as the HTTP body the ingest receives.
func (e evidence) body() (route string, b []byte) {
	res := map[string]any{"@odata.type": "#microsoft.graph.playPromptOperation", "id": e.op.id, "status": e.status,
		"clientContext": e.op.cc, "@odata.etag": fmt.Sprint(e.etag)}
	if e.status == "completed" || e.status == "failed" {
		res["resultInfo"] = map[string]any{"code": 200, "subcode": 0, "message": "Action completed successfully."}
	}
	if e.response {
		b, _ = json.Marshal(map[string]any{"callId": callID, "action": "playPrompt", "clientContext": e.op.cc, "httpStatus": 200,
			"operation": res, "sentAt": "2026-11-22T10:00:00.000Z"})
		return "/v1/responses", b
	}
	b, _ = json.Marshal(map[string]any{"@odata.type": "#microsoft.graph.commsNotifications", "value": []any{map[string]any{
		"@odata.type": "#microsoft.graph.commsNotification", "changeType": "updated",
		"resourceUrl":  "/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/" + e.op.id,
		"resourceData": res}}})
	return "/v1/notifications", b
}

// inbound renders evidence as the events the ingest would store.
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
