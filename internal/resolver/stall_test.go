package resolver

import (
	"testing"
	"time"

	"github.com/commsops/commsops/pkg/events"
)

func TestStallChecks(t *testing.T) {
	const after = time.Minute
	now := t0.Add(time.Hour) // long after every piece of evidence
	check := func(seq uint64, slot string, at time.Time) *Evidence {
		return &Evidence{Seq: seq, Kind: events.SourceStallTimer, ReceivedAt: at, Slot: slot}
	}
	t.Run("one schedule per open operation, not per message", func(t *testing.T) {
		st := &KeyState{Key: "k"}
		st.Apply(ev(1, R, "op", events.StatusNotStarted))
		st.Apply(ev(2, R, "op2", events.StatusRunning))
		if got := st.StallSchedules(after, "subj", t0); len(got) != 2 || got[0].Slot != "id:op" || got[1].Slot != "id:op2" {
			t.Fatalf("want one schedule for each new open operation, got %+v", got)
		}
		st.Apply(ev(3, N, "op", events.StatusRunning))
		if got := st.StallSchedules(after, "subj", t0); len(got) != 0 {
			t.Fatalf("scheduled again while one is pending: %+v", got)
		}
	})
	t.Run("finished before the schedule: none", func(t *testing.T) {
		st := &KeyState{Key: "k"}
		st.Apply(ev(1, R, "op", events.StatusRunning))
		st.Apply(ev(2, N, "op", events.StatusCompleted))
		if got := st.StallSchedules(after, "subj", t0); len(got) != 0 {
			t.Fatalf("a finished operation was scheduled: %+v", got)
		}
	})
	t.Run("news since: re-armed, not stalled", func(t *testing.T) {
		st := &KeyState{Key: "k"}
		st.Apply(ev(1, R, "op", events.StatusRunning)) // news at t0+1s
		sched := st.StallSchedules(after, "subj", t0)[0]
		st.Apply(ev(30, N, "op", events.StatusRunning)) // news at t0+30s
		out, changed := st.CheckStall(check(40, st.Ops[0].Slot, sched.At), after, "subj", t0)
		if !changed || len(out) != 1 || out[0].Kind != EmitStallSchedule || !out[0].At.After(t0.Add(30*time.Second+after)) {
			t.Fatalf("want a re-armed schedule after the latest news + %v, got %+v", after, out)
		}
		out, _ = st.CheckStall(check(41, st.Ops[0].Slot, out[0].At), after, "subj", now)
		if len(out) != 1 || out[0].Status != events.StatusStalled {
			t.Fatalf("want stalled, got %+v", out)
		}
		if out2, changed := st.CheckStall(check(42, st.Ops[0].Slot, now), after, "subj", now); changed || len(out2) != 0 {
			t.Fatal("stalled twice")
		}
		if got := st.StallSchedules(after, "subj", now); len(got) != 0 {
			t.Fatal("a stalled operation is scheduled again")
		}
		// A terminal status still resolves it.
		if out := st.Apply(ev(50, N, "op", events.StatusCompleted)); len(out) != 1 || out[0].Status != events.StatusCompleted {
			t.Fatalf("completion after stall: %+v", out)
		}
	})
	t.Run("a re-armed check never takes a first check's id", func(t *testing.T) {
		// A stale worker's first check (due from e1) replaced the pending one
		// (due from e2) on its subject and fired early; the re-armed check is
		// due when the replaced one was and must not be dropped as its
		// duplicate.
		st := &KeyState{Key: "k"}
		st.Apply(ev(1, R, "op", events.StatusRunning))
		st.Apply(ev(30, N, "op", events.StatusRunning))
		pending := st.StallSchedules(after, "subj", t0)[0]
		early := check(40, st.Ops[0].Slot, t0.Add(after))
		out, changed := st.CheckStall(early, after, "subj", t0)
		if !changed || len(out) != 1 || out[0].Kind != EmitStallSchedule {
			t.Fatalf("want a re-armed schedule, got %+v", out)
		}
		if !out[0].At.Equal(pending.At) || out[0].Subject != pending.Subject {
			t.Fatalf("re-armed for %v on %s, want the pending check's %v on %s", out[0].At, out[0].Subject, pending.At, pending.Subject)
		}
		if out[0].ID == pending.ID {
			t.Fatalf("re-armed check has the id %s of the first check it replaces", out[0].ID)
		}
		again, _ := (&KeyState{Key: "k", Ops: []*OpState{{Slot: st.Ops[0].Slot, LastNewsAt: st.Ops[0].LastNewsAt, StallDue: out[0].At}}}).
			CheckStall(early, after, "subj", t0)
		if len(again) != 1 || again[0].ID != out[0].ID {
			t.Fatalf("the same fired check re-armed under another id: %+v, want %s", again, out[0].ID)
		}
	})
	t.Run("finished operation: no-op, no write", func(t *testing.T) {
		st := &KeyState{Key: "k"}
		st.Apply(ev(1, R, "op", events.StatusRunning))
		st.Apply(ev(2, N, "op", events.StatusCompleted))
		if out, changed := st.CheckStall(check(3, st.Ops[0].Slot, now), after, "subj", now); changed || out != nil {
			t.Fatal("a check for a completed operation changed the state")
		}
	})
}
