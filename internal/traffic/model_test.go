package traffic

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/pkg/events"
)

var nullShares = Shares{Race: 1.0 / 3, Duplicates: 0.2, SharedCC: 0.25, TerminalResponse: 0.25, ProgressRace: 0.5,
	Calls: 3, NullID: 0.3, NullOperation: 0.3}

// TestExpect: the model on hand-written sequences.
func TestExpect(t *testing.T) {
	op := &Operation{CC: "cc", ID: "op", Type: "playPromptOperation", Action: "playPrompt"}
	r := func(status string) Evidence { return Evidence{Op: op, Response: true, Status: status} }
	n := func(status string) Evidence { return Evidence{Op: op, Status: status} }
	nullID := func(status string) Evidence { return Evidence{Op: op, Status: status, NullID: true} }
	x := func(status events.Status, race bool, id string) Expected {
		return Expected{Status: status, RaceDetected: race, OperationID: id}
	}
	const (
		ns   = events.StatusNotStarted
		run  = events.StatusRunning
		done = events.StatusCompleted
	)
	cases := []struct {
		name string
		seq  []Evidence
		want []Expected
	}{
		{"in order", []Evidence{r("running"), n("completed")}, []Expected{x(run, false, "op"), x(done, false, "op")}},
		{"raced: the completion first, the race after it", []Evidence{n("completed"), r("running")}, []Expected{x(done, false, "op")}},
		{"a step back before the completion is reported on it",
			[]Evidence{n("running"), r("notStarted"), n("completed")}, []Expected{x(run, false, "op"), x(done, true, "op")}},
		{"a repeat is no race", []Evidence{r("running"), n("running"), n("completed")}, []Expected{x(run, false, "op"), x(done, false, "op")}},
		{"null-id completion first has no id", []Evidence{nullID("completed"), r("running")}, []Expected{x(done, false, "")}},
		{"null-id completion after the response has the id", []Evidence{r("running"), nullID("completed")},
			[]Expected{x(run, false, "op"), x(done, false, "op")}},
		{"null operation then null-id completion: never an id", []Evidence{r(""), nullID("completed")}, []Expected{x(done, false, "")}},
		{"null operation then notifications", []Evidence{r(""), n("running"), nullID("completed")},
			[]Expected{x(run, false, "op"), x(done, false, "op")}},
		{"notStarted, then a raced duplicate", []Evidence{r("notStarted"), n("running"), r("notStarted"), n("completed")},
			[]Expected{x(ns, false, "op"), x(run, false, "op"), x(done, true, "op")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, total := Expect(tc.seq)
			if !slices.Equal(got[op], tc.want) || total != len(tc.want) {
				t.Fatalf("got %v (%d), want %v", got[op], total, tc.want)
			}
		})
	}
}

// TestModelMatchesResolver runs generated traffic, rendered and decoded as the
// ingest and the resolver do, through the resolver's merge (one state per
// key, in stream order, no broker) and checks every event against the model:
// the operation it is attributed to, its status, raceDetected and operation
// id. The end-to-end tests check the same through the whole pipeline.
func TestModelMatchesResolver(t *testing.T) {
	cases := []struct {
		name string
		s    Shares
	}{
		{"benchmark shares", Shares{Race: 0.3, Duplicates: 0.2, SharedCC: 0.25}},
		{"nulls, calls and types on shared clientContexts", nullShares},
	}
	for _, c := range cases {
		for seed := uint64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", c.name, seed), func(t *testing.T) {
				ops, seq := Generate(rand.New(rand.NewPCG(seed, 99)), 600, c.s)
				want, total := Expect(seq)
				got := resolve(t, ops, seq)
				n, bad := 0, 0
				for _, op := range ops {
					n += len(got[op])
					if !slices.Equal(got[op], want[op]) {
						if bad++; bad <= 10 {
							t.Errorf("operation %s (cc %s, %s): resolver %v, model %v", op.ID, op.CC, op.Type, got[op], want[op])
						}
					}
				}
				if bad > 0 || n != total {
					t.Fatalf("%d of %d operations differ; %d events, model %d", bad, len(ops), n, total)
				}
			})
		}
	}
}

// resolve applies seq to per-key resolver states and returns the events
// emitted per operation.
func resolve(t *testing.T, ops []*Operation, seq []Evidence) map[*Operation][]Expected {
	t.Helper()
	in, err := Inbounds(seq)
	if err != nil {
		t.Fatal(err)
	}
	idx := NewIndex(ops)
	states := map[string]*resolver.KeyState{}
	got := map[*Operation][]Expected{}
	for i, ib := range in {
		ev, err := resolver.EvidenceFromEvent(ib.Event(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		st := states[ib.Key]
		if st == nil {
			st = &resolver.KeyState{Key: ib.Key}
			states[ib.Key] = st
		}
		for _, em := range st.Apply(ev) {
			var r events.ResolvedOperation
			if err := json.Unmarshal(em.Data, &r); err != nil {
				t.Fatal(err)
			}
			op := idx.Find(r)
			if op == nil || r.CallID != graphid.NormalizeID(op.call()) || r.ODataType != "#microsoft.graph."+op.Type {
				t.Fatalf("event %s for no generated operation (or the wrong one: %v): %+v", em.ID, op, r)
			}
			got[op] = append(got[op], Expected{Status: r.Status, RaceDetected: r.RaceDetected, OperationID: r.OperationID})
		}
	}
	return got
}

// TestNullsMeetOtherOperations: the null-id notifications and null
// operations of the generated traffic arrive on shared clientContexts while
// operations of other types and other calls are open there (what matching by
// type and call must tell apart), and the index attributes every expected
// event to its operation.
func TestNullsMeetOtherOperations(t *testing.T) {
	ops, seq := Generate(rand.New(rand.NewPCG(5, 5)), 600, nullShares)
	open, done := map[*Operation]bool{}, map[*Operation]bool{} // seen and not terminal; terminal
	otherType, otherCall := 0, 0
	for _, e := range seq {
		if (e.NullID || (e.Response && e.Status == "")) && e.Op.CC[:7] == "shared-" {
			for o := range open {
				if o.CC == e.Op.CC && o != e.Op {
					if o.Type != e.Op.Type {
						otherType++
					}
					if o.call() != e.Op.call() {
						otherCall++
					}
				}
			}
		}
		if e.Status == "completed" || e.Status == "failed" {
			done[e.Op] = true
			delete(open, e.Op)
		} else if !done[e.Op] {
			open[e.Op] = true
		}
	}
	if otherType < 10 || otherCall < 10 {
		t.Fatalf("null evidence met %d open operations of another type, %d of another call: too few", otherType, otherCall)
	}
	want, _ := Expect(seq)
	idx := NewIndex(ops)
	noID := 0
	for op, evs := range want {
		for _, x := range evs {
			r := events.ResolvedOperation{ClientContext: op.CC, CallID: graphid.NormalizeID(op.call()), OperationID: x.OperationID,
				ODataType: "#microsoft.graph." + op.Type}
			if x.OperationID == "" {
				noID++
			}
			if got := idx.Find(r); got != op {
				t.Fatalf("event %+v attributed to %v, want %s", x, got, op.ID)
			}
		}
	}
	if noID == 0 {
		t.Fatal("no event without an operation id")
	}
}
