package traffic

import (
	"math/rand/v2"
	"testing"
)

// TestGenerateAndModel: the generator applies every share, loses no evidence,
// the model ends every operation terminal, and no two stored events share an
// id (so the stream absorbs none and the resolver sees every duplicate).
func TestGenerateAndModel(t *testing.T) {
	cases := []struct {
		name string
		s    Shares
	}{
		{"benchmark shares", Shares{Race: 0.3, Duplicates: 0.2, SharedCC: 0.25}},
		{"test shares", Shares{Race: 1.0 / 3, Duplicates: 0.2, SharedCC: 0.25, TerminalResponse: 0.25}},
		{"test shares with nulls and calls", Shares{Race: 1.0 / 3, Duplicates: 0.2, SharedCC: 0.25, TerminalResponse: 0.25,
			Calls: 3, NullID: 0.3, NullOperation: 0.3}},
		{"test shares with progress races", Shares{Race: 1.0 / 3, Duplicates: 0.2, SharedCC: 0.25, TerminalResponse: 0.25, ProgressRace: 0.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const n = 2000
			ops, seq := Generate(rand.New(rand.NewPCG(7, 7)), n, c.s)
			want, total := Model(seq)
			perOp, nullOps := map[*Operation]int{}, map[*Operation]int{}
			nullIDs, nullOperations := 0, 0
			for _, e := range seq {
				perOp[e.Op]++
				switch {
				case e.Response && e.Status == "":
					nullOps[e.Op]++
					nullOperations++
				case e.NullID:
					nullIDs++
				}
			}
			sent, races, shared, terminalOnly := 0, 0, 0, 0
			for _, op := range ops {
				sent += op.EvidenceSent
				if perOp[op] < op.EvidenceSent {
					t.Fatalf("operation %s lost evidence", op.ID)
				}
				w := want[op]
				if len(w) == 0 || !w[len(w)-1].Terminal() {
					t.Fatalf("operation %s never terminal in the model: %v", op.ID, w)
				}
				if nullOps[op] > 1 {
					t.Fatalf("operation %s has %d null-operation responses", op.ID, nullOps[op])
				}
				if len(w) < op.EvidenceSent-nullOps[op] {
					races++
				}
				if op.CC[:7] == "shared-" {
					shared++
				}
				if op.EvidenceSent == 1 {
					terminalOnly++
				}
			}
			if c.s.NullID > 0 && (nullIDs == 0 || nullOperations == 0) {
				t.Errorf("%d null-id notifications, %d null operations", nullIDs, nullOperations)
			}
			if c.s.NullID == 0 && nullIDs+nullOperations > 0 {
				t.Errorf("%d null-id notifications, %d null operations with no share of them", nullIDs, nullOperations)
			}
			if len(ops) != n || total < n {
				t.Fatalf("%d operations, %d events expected", len(ops), total)
			}
			near := func(what string, got int, share float64, of int) {
				if w := share * float64(of); float64(got) < 0.7*w || float64(got) > 1.3*w {
					t.Errorf("%s: %d, want about %.0f", what, got, w)
				}
			}
			near("duplicates", len(seq)-sent, c.s.Duplicates, sent)
			near("shared clientContexts", shared, c.s.SharedCC, n)
			// A progress race is absorbed too: of the three-step operations
			// (a third of those not answered terminally) not raced otherwise.
			near("raced operations", races, c.s.Race*(1-c.s.TerminalResponse)+c.s.ProgressRace*(1-c.s.TerminalResponse)/3*(1-c.s.Race), n)
			exp, _ := Expect(seq)
			flagged := 0
			for _, x := range exp {
				for _, e := range x {
					if e.RaceDetected {
						flagged++
					}
				}
			}
			if c.s.ProgressRace > 0 && float64(flagged) < 0.7*c.s.ProgressRace*(1-c.s.TerminalResponse)/3*(1-c.s.Race)*n {
				t.Errorf("%d events report raceDetected", flagged)
			}
			if c.s.TerminalResponse > 0 {
				near("terminal responses", terminalOnly, c.s.TerminalResponse, n)
			} else if terminalOnly != 0 {
				t.Errorf("%d terminal responses, want none", terminalOnly)
			}
			in, err := Inbounds(seq)
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for _, ev := range in {
				if ids[ev.ID()] {
					t.Fatalf("two stored events share id %s: the stream would absorb a duplicate", ev.ID())
				}
				ids[ev.ID()] = true
			}
		})
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	s := Shares{Race: 0.3, Duplicates: 0.2, SharedCC: 0.25}
	_, a := Generate(rand.New(rand.NewPCG(1, 2)), 300, s)
	_, b := Generate(rand.New(rand.NewPCG(1, 2)), 300, s)
	if len(a) != len(b) {
		t.Fatalf("%d vs %d items", len(a), len(b))
	}
	for i := range a {
		if a[i].Op.ID != b[i].Op.ID || a[i].Status != b[i].Status || a[i].Response != b[i].Response {
			t.Fatalf("item %d differs", i)
		}
	}
}
