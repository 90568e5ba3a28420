package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/commsops/commsops/pkg/events"
)

// genOp is one generated operation and the evidence Graph and the bot send for it.
type genOp struct {
	cc, id, typ string
	evidence    []genEvidence
}

type genEvidence struct {
	op       *genOp
	response bool
	status   string
}

// generate builds n operations (a share of them sharing clientContexts, as
// Microsoft's samples do), interleaves their evidence at random, puts terminal
// notifications before responses for a share (the race), and repeats a share
// of items later with a new etag (Graph redelivering beyond the stream's
// duplicate window, so the resolver and not the stream must absorb them).
func generate(r *rand.Rand, n int) ([]*genOp, []genEvidence) {
	types := []string{"playPromptOperation", "recordOperation", "muteParticipantOperation", "subscribeToToneOperation"}
	ops := make([]*genOp, n)
	var lists [][]genEvidence
	for i := range ops {
		o := &genOp{id: fmt.Sprintf("%08x-0000-4000-8000-%012x", r.Uint32(), i), typ: types[r.IntN(len(types))]}
		if r.IntN(4) == 0 {
			o.cc = fmt.Sprintf("shared-%d", r.IntN(max(1, n/20))) // about five operations per shared clientContext
		} else {
			o.cc = fmt.Sprintf("cc-%d-%d", i, r.Uint32())
		}
		terminal := []string{"completed", "failed"}[r.IntN(2)]
		var ev []genEvidence
		switch r.IntN(4) {
		case 0: // terminal action response, no notification follows
			ev = []genEvidence{{o, true, terminal}}
		case 1:
			ev = []genEvidence{{o, true, "notStarted"}, {o, false, "running"}, {o, false, terminal}}
		default:
			ev = []genEvidence{{o, true, "running"}, {o, false, terminal}}
		}
		if len(ev) > 1 && r.IntN(3) == 0 { // the race: completion before the response
			last := len(ev) - 1
			ev[0], ev[last] = ev[last], ev[0]
		}
		o.evidence = ev
		ops[i] = o
		lists = append(lists, ev)
	}
	var seq []genEvidence
	for len(lists) > 0 {
		i := r.IntN(len(lists))
		seq = append(seq, lists[i][0])
		if lists[i] = lists[i][1:]; len(lists[i]) == 0 {
			lists = slices.Delete(lists, i, i+1)
		}
	}
	for k := len(seq) / 5; k > 0; k-- { // duplicates, later in the stream
		d := seq[r.IntN(len(seq))]
		at := r.IntN(len(seq) + 1)
		seq = slices.Insert(seq, at, d)
	}
	return ops, seq
}

// expected is the contract's semantics applied in stream order: per
// operation, a status is emitted when it ranks above everything seen.
func expected(seq []genEvidence) map[*genOp][]events.Status {
	want := map[*genOp][]events.Status{}
	best := map[*genOp]int{}
	for _, e := range seq {
		s, _ := events.ParseStatus(e.status)
		if s.Rank() > best[e.op] {
			best[e.op] = s.Rank()
			want[e.op] = append(want[e.op], s)
		}
	}
	return want
}

// inbound renders one piece of evidence as the events ingest would store.
func inbound(t *testing.T, e genEvidence, etag int) []events.Inbound { return inboundB(t, e, etag) }

func inboundB(t testing.TB, e genEvidence, etag int) []events.Inbound {
	o := op{typ: e.op.typ, id: e.op.id, cc: e.op.cc, status: e.status, code: 200}
	if e.response {
		body := response("x", o, 200)
		body["operation"].(map[string]any)["@odata.etag"] = fmt.Sprint(etag)
		b, _ := json.Marshal(body)
		p, err := events.ParseActionResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		in, err := events.ResponseEvent(p, b, events.InboundOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return []events.Inbound{in}
	}
	body := notification(o)
	body["value"].([]any)[0].(map[string]any)["resourceData"].(map[string]any)["@odata.etag"] = fmt.Sprint(etag)
	b, _ := json.Marshal(body)
	n, err := events.ParseNotifications(b)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := events.NotificationEvents(n, events.InboundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

func (p *pipeline) publishAll(t *testing.T, seq []genEvidence) {
	pub, err := events.NewPublisher(p.js)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var batch []events.Inbound
	for i, e := range seq {
		batch = append(batch, inbound(t, e, i)...)
		if len(batch) >= 64 || i == len(seq)-1 {
			if err := pub.Store(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

func checkAgainstModel(t *testing.T, ops []*genOp, want map[*genOp][]events.Status, evs []resolvedEvent) {
	t.Helper()
	assertInvariants(t, evs)
	bad := 0
	for _, o := range ops {
		got := statusesOf(evs, o.cc, o.id)
		if !slices.Equal(got, want[o]) {
			if bad++; bad <= 10 {
				t.Errorf("op %s (cc %s): emitted %v, want %v", o.id, o.cc, got, want[o])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d operations differ from the model", bad, len(ops))
	}
}

func total(want map[*genOp][]events.Status) int {
	n := 0
	for _, s := range want {
		n += len(s)
	}
	return n
}

// TestPropertyRandomInterleavings: for several seeds, random interleavings with
// races, shared clientContexts and duplicates resolve exactly as the model says.
func TestPropertyRandomInterleavings(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			p := startPipeline(t)
			ops, seq := generate(rand.New(rand.NewPCG(seed, 42)), 150)
			want := expected(seq)
			p.publishAll(t, seq)
			p.startWorker("w1", resolverDefaults())
			n := total(want)
			p.out.waitFor(t, 60*time.Second, fmt.Sprintf("%d events", n), func(evs []resolvedEvent) bool { return len(evs) >= n })
			checkAgainstModel(t, ops, want, p.out.settle(500*time.Millisecond))
		})
	}
}

// TestResolverKilledAndRestarted: workers are killed with no cleanup while
// evidence keeps arriving, and replaced; nothing acknowledged is lost, nothing
// is emitted twice, and per-key order holds (the output equals the model).
func TestResolverKilledAndRestarted(t *testing.T) {
	p := startPipeline(t)
	ops, seq := generate(rand.New(rand.NewPCG(7, 7)), 300)
	want := expected(seq)
	n := total(want)

	w := p.startWorker("w1", resolverDefaults())
	half := len(seq) / 2
	p.publishAll(t, seq[:half])
	p.out.waitFor(t, 60*time.Second, "some progress", func(evs []resolvedEvent) bool { return len(evs) >= n/6 })
	w.kill()
	p.publishAll(t, seq[half:half+half/2])
	w = p.startWorker("w2", resolverDefaults())
	p.out.waitFor(t, 60*time.Second, "more progress", func(evs []resolvedEvent) bool { return len(evs) >= n/2 })
	w.kill()
	p.publishAll(t, seq[half+half/2:])
	p.startWorker("w3", resolverDefaults())
	p.out.waitFor(t, 90*time.Second, fmt.Sprintf("%d events", n), func(evs []resolvedEvent) bool { return len(evs) >= n })
	checkAgainstModel(t, ops, want, p.out.settle(time.Second))
}
