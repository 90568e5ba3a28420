package resolver

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/commsops/commsops/pkg/events"
)

// with returns e carrying resultInfo code ri (none when 0), completion reason
// reason and the further fields extra (JSON object, none when "").
func with(e *Evidence, ri int, reason, extra string) *Evidence {
	if ri != 0 {
		e.ResultInfo = &events.ResultInfo{Code: ri, Subcode: ri + 1, Message: "seq " + strconv.FormatUint(e.Seq, 10)}
	}
	e.CompletionReason = reason
	if extra != "" {
		if err := json.Unmarshal([]byte(extra), &e.Extra); err != nil {
			panic(err)
		}
	}
	return e
}

// TestMergeFieldPrecedence: evidence that moves the operation forward
// overrides resultInfo, completionReason and further fields; evidence that
// does not (a repeat, a status already passed, a second terminal status, no
// status) only fills what the operation lacks and never overrides. The
// emitted event carries the merged fields.
func TestMergeFieldPrecedence(t *testing.T) {
	const (
		run  = events.StatusRunning
		done = events.StatusCompleted
		fail = events.StatusFailed
	)
	cases := []struct {
		name   string
		evs    []*Evidence
		code   int    // the operation's resultInfo code after the last (0: none)
		reason string // its completionReason
		extra  string // its further fields, as JSON
		// lastCode is the resultInfo code of the last event emitted (0: none).
		lastCode int
	}{
		{"forward step overrides",
			[]*Evidence{with(ev(1, R, "op", run), 100, "r1", `{"x":1}`), with(ev(2, N, "op", done), 200, "r2", `{"x":2,"y":2}`)},
			200, "r2", `{"x":2,"y":2}`, 200},
		{"absorbed older status after the terminal one never overrides",
			[]*Evidence{with(ev(1, N, "op", done), 200, "r1", `{"x":1}`), with(ev(2, R, "op", run), 100, "r2", `{"x":2,"y":2}`)},
			200, "r1", `{"x":1,"y":2}`, 200},
		{"absorbed older status before the terminal one never overrides",
			[]*Evidence{with(ev(1, N, "op", run), 100, "r1", `{"x":1}`), with(ev(2, R, "op", events.StatusNotStarted), 50, "r2", `{"x":2,"y":2}`)},
			100, "r1", `{"x":1,"y":2}`, 100},
		{"absorbed older status fills only what is missing",
			[]*Evidence{with(ev(1, N, "op", done), 0, "", `{"x":1}`), with(ev(2, R, "op", run), 100, "r2", `{"x":2}`)},
			100, "r2", `{"x":1}`, 0},
		{"a repeated status never overrides",
			[]*Evidence{with(ev(1, N, "op", done), 200, "r1", `{"x":1}`), with(ev(2, N, "op", done), 201, "r2", `{"x":2}`)},
			200, "r1", `{"x":1}`, 200},
		{"a second terminal status is absorbed and never overrides",
			[]*Evidence{with(ev(1, N, "op", done), 200, "r1", `{"x":1}`), with(ev(2, N, "op", fail), 400, "r2", `{"x":2}`)},
			200, "r1", `{"x":1}`, 200},
		{"evidence with no status fills only",
			[]*Evidence{with(ev(1, N, "op", run), 100, "", `{"x":1}`), with(ev(2, R, "op", ""), 150, "r2", `{"x":2,"y":2}`)},
			100, "r2", `{"x":1,"y":2}`, 100},
		{"a null-id completion joining the open operation overrides",
			[]*Evidence{with(ev(1, R, "op", run), 100, "r1", `{"x":1}`), with(ev(2, N, "", done), 200, "r2", `{"x":2}`)},
			200, "r2", `{"x":2}`, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &KeyState{Key: "k"}
			var last *Emission
			for _, e := range tc.evs {
				for _, em := range st.Apply(e) {
					last = &em
				}
			}
			if len(st.Ops) != 1 {
				t.Fatalf("%d operations", len(st.Ops))
			}
			op := st.Ops[0]
			code := 0
			if op.ResultInfo != nil {
				code = op.ResultInfo.Code
			}
			extra, err := json.Marshal(op.Extra)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || op.CompletionReason != tc.reason || string(extra) != tc.extra {
				t.Fatalf("resultInfo %d completionReason %q extra %s; want %d %q %s", code, op.CompletionReason, extra, tc.code, tc.reason, tc.extra)
			}
			if last == nil {
				t.Fatal("nothing emitted")
			}
			var r events.ResolvedOperation
			if err := json.Unmarshal(last.Data, &r); err != nil {
				t.Fatal(err)
			}
			lastCode := 0
			if r.ResultInfo != nil {
				lastCode = r.ResultInfo.Code
			}
			if lastCode != tc.lastCode {
				t.Fatalf("last event (%s) has resultInfo %d, want %d", last.Status, lastCode, tc.lastCode)
			}
		})
	}
}

// TestEmittedRaceDetected: an event decided after evidence of an older status
// was absorbed reports raceDetected; one decided before does not.
func TestEmittedRaceDetected(t *testing.T) {
	st := &KeyState{Key: "k"}
	var got []bool
	for _, e := range []*Evidence{ev(1, N, "op", events.StatusRunning), ev(2, R, "op", events.StatusNotStarted), ev(3, N, "op", events.StatusCompleted)} {
		for _, em := range st.Apply(e) {
			var r events.ResolvedOperation
			if err := json.Unmarshal(em.Data, &r); err != nil {
				t.Fatal(err)
			}
			got = append(got, r.RaceDetected)
		}
	}
	if len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("raceDetected of the running and completed events: %v, want [false true]", got)
	}
}
