package resolver

import (
	"slices"
	"testing"
	"time"

	"github.com/commsops/commsops/pkg/events"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func ev(seq uint64, kind events.SourceKind, id string, status events.Status) *Evidence {
	return &Evidence{Seq: seq, Kind: kind, ReceivedAt: t0.Add(time.Duration(seq) * time.Second),
		CallID: "call", OpID: id, ODataType: "#microsoft.graph.playPromptOperation", Status: status, ClientContext: "cc"}
}

// typed returns e with its operation type and call set.
func typed(e *Evidence, odataType, callID string) *Evidence {
	e.ODataType, e.CallID = odataType, callID
	return e
}

const (
	N = events.SourceNotification
	R = events.SourceResponse
)

// TestLattice: every ordered pair of statuses, applied to one operation.
func TestLattice(t *testing.T) {
	all := []events.Status{events.StatusNotStarted, events.StatusRunning, events.StatusCompleted, events.StatusFailed}
	for _, first := range all {
		for _, second := range all {
			t.Run(string(first)+"→"+string(second), func(t *testing.T) {
				st := &KeyState{Key: "k"}
				e1 := st.Apply(ev(1, R, "op", first))
				e2 := st.Apply(ev(2, N, "op", second))
				if len(e1) != 1 || e1[0].Status != first {
					t.Fatalf("first emission %v", e1)
				}
				op := st.Ops[0]
				switch {
				case first.Terminal():
					if len(e2) != 0 || op.Status != first {
						t.Fatalf("terminal %s moved to %s (emitted %v)", first, op.Status, e2)
					}
					if wantRace := second.Rank() < first.Rank(); op.RaceDetected != wantRace {
						t.Fatalf("raceDetected %v, want %v", op.RaceDetected, wantRace)
					}
				case second.Rank() > first.Rank():
					if len(e2) != 1 || e2[0].Status != second || op.Status != second {
						t.Fatalf("forward step %s→%s emitted %v, status %s", first, second, e2, op.Status)
					}
				default:
					if len(e2) != 0 || op.Status != first {
						t.Fatalf("step back or repeat %s→%s emitted %v", first, second, e2)
					}
					if op.RaceDetected != (second.Rank() < first.Rank()) {
						t.Fatalf("raceDetected %v", op.RaceDetected)
					}
				}
				if len(op.Sources) != 2 {
					t.Fatalf("sources %v", op.Sources)
				}
			})
		}
	}
}

func TestApplyMatching(t *testing.T) {
	const (
		play   = "#microsoft.graph.playPromptOperation"
		record = "#microsoft.graph.recordOperation"
	)
	cases := []struct {
		name    string
		evs     []*Evidence
		wantOps int
		want    []events.Status // emissions in order
		// final is each operation's "id status type call" after the last
		// evidence, in order (nil: not checked).
		final []string
	}{
		{"null-id notification joins the open operation",
			[]*Evidence{ev(1, R, "op1", events.StatusRunning), ev(2, N, "", events.StatusCompleted)},
			1, []events.Status{events.StatusRunning, events.StatusCompleted}, nil},
		{"null operation response is adopted by the id",
			[]*Evidence{ev(1, R, "", ""), ev(2, N, "op1", events.StatusRunning), ev(3, N, "op1", events.StatusCompleted)},
			1, []events.Status{events.StatusRunning, events.StatusCompleted}, nil},
		{"null-id completion first, then the response with the id (invite race)",
			[]*Evidence{ev(1, N, "", events.StatusCompleted), ev(2, R, "op1", events.StatusRunning)},
			1, []events.Status{events.StatusCompleted}, nil},
		{"two operations on one clientContext stay apart",
			[]*Evidence{ev(1, R, "op1", events.StatusRunning), ev(2, R, "op2", events.StatusRunning),
				ev(3, N, "op2", events.StatusCompleted), ev(4, N, "op1", events.StatusFailed)},
			2, []events.Status{events.StatusRunning, events.StatusRunning, events.StatusCompleted, events.StatusFailed}, nil},
		{"late duplicate null-id completion is absorbed, not a new operation",
			[]*Evidence{ev(1, N, "", events.StatusCompleted), ev(2, N, "", events.StatusCompleted)},
			1, []events.Status{events.StatusCompleted}, nil},
		{"a second null-operation response is a second operation",
			[]*Evidence{ev(1, R, "op1", events.StatusRunning), ev(2, R, "", "")},
			2, []events.Status{events.StatusRunning}, nil},
		{"null-id completion joins the open operation of its type, not an older one of another",
			[]*Evidence{ev(1, R, "op1", events.StatusRunning), typed(ev(2, R, "op2", events.StatusRunning), record, "call"),
				typed(ev(3, N, "", events.StatusCompleted), record, "call")},
			2, []events.Status{events.StatusRunning, events.StatusRunning, events.StatusCompleted},
			[]string{"op1 running " + play + " call", "op2 completed " + record + " call"}},
		{"null-id completion joins the open operation of its call, not an older one of another",
			[]*Evidence{ev(1, R, "op1", events.StatusRunning), typed(ev(2, R, "op2", events.StatusRunning), play, "call2"),
				typed(ev(3, N, "", events.StatusFailed), play, "call2")},
			2, []events.Status{events.StatusRunning, events.StatusRunning, events.StatusFailed},
			[]string{"op1 running " + play + " call", "op2 failed " + play + " call2"}},
		{"null-id completion of a type with no open operation is a new operation",
			[]*Evidence{ev(1, R, "op1", events.StatusRunning), typed(ev(2, N, "", events.StatusCompleted), record, "call")},
			2, []events.Status{events.StatusRunning, events.StatusCompleted},
			[]string{"op1 running " + play + " call", " completed " + record + " call"}},
		{"null-id notifications of two types on one clientContext, then their ids",
			[]*Evidence{typed(ev(1, N, "", events.StatusRunning), play, "call"), typed(ev(2, N, "", events.StatusRunning), record, "call"),
				typed(ev(3, R, "op2", events.StatusRunning), record, "call"), typed(ev(4, N, "op1", events.StatusCompleted), play, "call"),
				typed(ev(5, N, "op2", events.StatusCompleted), record, "call")},
			2, []events.Status{events.StatusRunning, events.StatusRunning, events.StatusCompleted, events.StatusCompleted},
			[]string{"op1 completed " + play + " call", "op2 completed " + record + " call"}},
		{"null-operation responses of two types are adopted by the id of their own type",
			[]*Evidence{typed(ev(1, R, "", ""), play, "call"), typed(ev(2, R, "", ""), record, "call"),
				typed(ev(3, N, "op2", events.StatusRunning), record, "call"), typed(ev(4, N, "op1", events.StatusCompleted), play, "call")},
			2, []events.Status{events.StatusRunning, events.StatusCompleted},
			[]string{"op1 completed " + play + " call", "op2 running " + record + " call"}},
		{"null-operation responses of two calls are adopted by the id of their own call",
			[]*Evidence{typed(ev(1, R, "", ""), play, "call1"), typed(ev(2, R, "", ""), play, "call2"),
				typed(ev(3, N, "op2", events.StatusCompleted), play, "call2"), typed(ev(4, N, "op1", events.StatusRunning), play, "call1")},
			2, []events.Status{events.StatusCompleted, events.StatusRunning},
			[]string{"op1 running " + play + " call1", "op2 completed " + play + " call2"}},
		{"a null-operation response after the notifications joins the operation of its type",
			[]*Evidence{typed(ev(1, N, "op1", events.StatusCompleted), play, "call"), typed(ev(2, N, "op2", events.StatusCompleted), record, "call"),
				typed(ev(3, R, "", ""), record, "call"), typed(ev(4, R, "", ""), play, "call")},
			2, []events.Status{events.StatusCompleted, events.StatusCompleted},
			[]string{"op1 completed " + play + " call", "op2 completed " + record + " call"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &KeyState{Key: "k"}
			var got []events.Status
			ids := map[string]bool{}
			for _, e := range tc.evs {
				for _, em := range st.Apply(e) {
					got = append(got, em.Status)
					if ids[em.ID] {
						t.Fatalf("duplicate event id %s", em.ID)
					}
					ids[em.ID] = true
				}
			}
			if len(st.Ops) != tc.wantOps || !slices.Equal(got, tc.want) {
				t.Fatalf("ops %d emissions %v; want %d %v", len(st.Ops), got, tc.wantOps, tc.want)
			}
			if tc.final == nil {
				return
			}
			final := make([]string, len(st.Ops))
			for i, op := range st.Ops {
				final[i] = op.ID + " " + string(op.Status) + " " + op.ODataType + " " + op.CallID
			}
			if !slices.Equal(final, tc.final) {
				t.Fatalf("operations\n %q\nwant\n %q", final, tc.final)
			}
			for _, op := range st.Ops {
				if len(op.Sources) == 0 {
					t.Fatalf("operation %s has no sources", op.ID)
				}
			}
		})
	}
}

// TestApplyDeterministic: the same evidence in the same order gives the same
// event ids and bytes (the basis of replay).
func TestApplyDeterministic(t *testing.T) {
	run := func() []Emission {
		st := &KeyState{Key: "k"}
		var out []Emission
		for _, e := range []*Evidence{ev(1, N, "", events.StatusRunning), ev(2, R, "op1", events.StatusNotStarted), ev(3, N, "op1", events.StatusCompleted)} {
			out = append(out, st.Apply(e)...)
		}
		return out
	}
	a, b := run(), run()
	if len(a) != 2 || len(a) != len(b) {
		t.Fatalf("emissions %d %d", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID || string(a[i].Data) != string(b[i].Data) {
			t.Fatalf("emission %d differs", i)
		}
	}
}

func TestAppliedMemoryIsBounded(t *testing.T) {
	st := &KeyState{Key: "k"}
	for seq := uint64(1); seq <= 3*maxApplied; seq++ {
		st.markApplied(seq)
	}
	if len(st.Applied) != maxApplied {
		t.Fatalf("remembers %d", len(st.Applied))
	}
	for _, seq := range []uint64{1, 2*maxApplied + 1, 3 * maxApplied} {
		if !st.HasApplied(seq) {
			t.Errorf("seq %d not applied", seq)
		}
	}
	if st.HasApplied(3*maxApplied + 1) {
		t.Error("future seq counted as applied")
	}
}

// TestPruneBoundsHotKeys: a clientContext reused for many operations (the
// samples use the call id) keeps its state bounded.
func TestPruneBoundsHotKeys(t *testing.T) {
	st := &KeyState{Key: "k"}
	for i := uint64(0); i < 100; i++ {
		id := "op" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		st.Apply(ev(2*i+1, R, id, events.StatusRunning))
		st.Apply(ev(2*i+2, N, id, events.StatusCompleted))
		st.Prune(t0.Add(time.Duration(2*i+2)*time.Second), time.Hour)
	}
	detailed := 0
	for _, op := range st.Ops {
		if len(op.Sources) > 0 {
			detailed++
		}
	}
	if detailed != keepDetailed {
		t.Fatalf("%d operations keep details, want %d", detailed, keepDetailed)
	}
	// A late duplicate of a compacted operation is still absorbed.
	if out := st.Apply(ev(1000, N, "opaa", events.StatusCompleted)); len(out) != 0 {
		t.Fatalf("late duplicate emitted %v", out)
	}
	// An hour later the finished operations are dropped altogether.
	st.Prune(t0.Add(3*time.Hour), time.Hour)
	if len(st.Ops) != 0 {
		t.Fatalf("%d operations left after the retention", len(st.Ops))
	}
}
