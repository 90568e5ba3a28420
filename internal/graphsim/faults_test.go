package graphsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/graphwire"
)

// opCallback is one received callback about the operation of one
// clientContext: its items' raw changeType, status and id, in order.
type opCallback struct {
	messageID   string
	changeTypes []string
	statuses    []string
	ids         []json.RawMessage
	arrays      []bool
	at          time.Time
}

// callbacksOf returns the received callbacks that carry cc's operation, in
// the order received.
func callbacksOf(t *testing.T, rc *receiver, cc string) []opCallback {
	t.Helper()
	var out []opCallback
	for _, got := range rc.all() {
		n, err := graphwire.ParseNotifications(got.Body)
		if err != nil {
			t.Fatal(err)
		}
		cb := opCallback{messageID: got.Header.Get(headerMessageID), at: got.At}
		for _, item := range n.Items {
			_, op, err := graphwire.ParseOperationNotification(item.Raw)
			if err != nil || op == nil || op.ClientContext != cc {
				continue
			}
			var raw struct{ ID json.RawMessage }
			mustUnmarshal(t, item.Resources[0], &raw)
			cb.changeTypes = append(cb.changeTypes, item.ChangeTypeRaw)
			cb.statuses = append(cb.statuses, op.StatusRaw)
			cb.ids = append(cb.ids, raw.ID)
			cb.arrays = append(cb.arrays, item.ResourceDataIsArray)
		}
		if len(cb.statuses) > 0 {
			out = append(out, cb)
		}
	}
	return out
}

// flatStatuses returns the statuses of cbs in order received.
func flatStatuses(cbs []opCallback) []string {
	var out []string
	for _, cb := range cbs {
		out = append(out, cb.statuses...)
	}
	return out
}

// TestFaults: each fault, set on the action by the Graphsim-Faults header,
// is visible in the callbacks the bot receives and in the ground truth.
func TestFaults(t *testing.T) {
	tests := []struct {
		fault string
		check func(t *testing.T, cbs []opCallback, op OperationTruth)
	}{
		{"none", func(t *testing.T, cbs []opCallback, op OperationTruth) {
			if got := flatStatuses(cbs); !slices.Equal(got, []string{"running", "completed"}) || len(cbs) != 2 {
				t.Errorf("statuses %v in %d callbacks", got, len(cbs))
			}
			if cbs[1].changeTypes[0] != "updated" || cbs[0].arrays[0] || string(cbs[0].ids[0]) != `"`+op.ID+`"` {
				t.Errorf("callbacks %+v", cbs)
			}
		}},
		{"duplicate=1", func(t *testing.T, cbs []opCallback, _ OperationTruth) {
			if got := flatStatuses(cbs); !slices.Equal(got, []string{"running", "running", "completed", "completed"}) {
				t.Errorf("statuses %v", got)
			}
			if cbs[2].messageID == cbs[3].messageID {
				t.Error("a duplicate reused the message id: a per-delivery dedupe would hide it")
			}
		}},
		{"reorder=1", func(t *testing.T, cbs []opCallback, _ OperationTruth) {
			if got := flatStatuses(cbs); !slices.Equal(got, []string{"completed", "running"}) || len(cbs) != 2 {
				t.Errorf("statuses %v", got)
			}
		}},
		{"deleted=1", func(t *testing.T, cbs []opCallback, _ OperationTruth) {
			if cbs[0].changeTypes[0] != "updated" || cbs[1].changeTypes[0] != "deleted" {
				t.Errorf("changeTypes %v %v", cbs[0].changeTypes, cbs[1].changeTypes)
			}
		}},
		{"casing=1", func(t *testing.T, cbs []opCallback, op OperationTruth) {
			if got := flatStatuses(cbs); !slices.Equal(got, []string{"Running", "Completed"}) || cbs[0].changeTypes[0] != "Updated" {
				t.Errorf("statuses %v, changeType %v", got, cbs[0].changeTypes)
			}
			if want := `"` + graphPathID(op.ID) + `"`; string(cbs[0].ids[0]) != want {
				t.Errorf("id %s, want %s", cbs[0].ids[0], want)
			}
		}},
		{"array=1", func(t *testing.T, cbs []opCallback, _ OperationTruth) {
			if !cbs[0].arrays[0] || !cbs[1].arrays[0] {
				t.Error("resourceData is not an array")
			}
		}},
		{"nullid=1", func(t *testing.T, cbs []opCallback, _ OperationTruth) {
			for _, cb := range cbs {
				if string(cb.ids[0]) != "null" {
					t.Errorf("id %s, want null", cb.ids[0])
				}
			}
		}},
		{"multi=1", func(t *testing.T, cbs []opCallback, _ OperationTruth) {
			if len(cbs) != 1 || !slices.Equal(cbs[0].statuses, []string{"running", "completed"}) {
				t.Errorf("callbacks %+v, want one with both statuses", cbs)
			}
		}},
		{"dropfinal=1", func(t *testing.T, cbs []opCallback, op OperationTruth) {
			for _, st := range flatStatuses(cbs) {
				if st != "running" {
					t.Errorf("a %s status was sent", st)
				}
			}
			if op.Final != "completed" || op.FinalDelivered {
				t.Errorf("truth %+v: the operation finished, its final status was not delivered", op)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			rc := newReceiver(t, nil)
			sim, ts := startSim(t, Config{})
			callID := createCall(t, ts, rc.url())
			action(t, ts, callID, "playPrompt", "cc-1", HeaderFaults, tc.fault)
			tr := waitTruth(t, sim, callID, "the operation's callbacks ended", func(tr CallTruth) bool {
				if len(tr.Operations) != 1 || tr.Operations[0].Final == "" {
					return false
				}
				n, ended := 0, 0
				for _, d := range tr.Deliveries {
					if len(d.OperationIDs) > 0 {
						n++
						if d.Outcome == OutcomeDelivered {
							ended++
						}
					}
				}
				want := 2
				switch tc.fault {
				case "duplicate=1":
					want = 4
				case "multi=1", "dropfinal=1":
					want = 1
				}
				return ended == want && n == want
			})
			op := tr.Operations[0]
			if name, _, _ := strings.Cut(tc.fault, "="); name != "none" && !slices.Contains(op.Faults, name) &&
				!slices.ContainsFunc(tr.Deliveries, func(d Delivery) bool { return slices.Contains(d.Faults, name) }) {
				t.Errorf("fault %s not in the truth: %+v", name, tr)
			}
			tc.check(t, callbacksOf(t, rc, "cc-1"), op)
		})
	}
}

// TestRaceFault: with race the action's HTTP response arrives after the
// bot's endpoint received the operation's completion. Without it the
// response is not held: the endpoint holds the completion until the
// response arrived, which a held response would never see.
func TestRaceFault(t *testing.T) {
	for _, race := range []bool{true, false} {
		t.Run(map[bool]string{true: "race", false: "no race"}[race], func(t *testing.T) {
			var completed atomic.Bool
			responded := make(chan struct{})
			rc := newReceiver(t, func(_ int, _ *http.Request, body []byte) int {
				if !strings.Contains(string(body), `"status":"completed"`) {
					return http.StatusAccepted
				}
				if !race {
					select {
					case <-responded:
					case <-time.After(waitLimit):
						return http.StatusServiceUnavailable
					}
				}
				completed.Store(true)
				return http.StatusAccepted
			})
			sim, ts := startSim(t, Config{})
			callID := createCall(t, ts, rc.url())
			hdr := []string{}
			if race {
				hdr = []string{HeaderFaults, "race=1"}
			}
			op := action(t, ts, callID, "playPrompt", "cc-race", hdr...)
			close(responded)
			if got := completed.Load(); got != race {
				t.Fatalf("completion received before the response: %v, want %v", got, race)
			}
			if op["status"] != "running" {
				t.Errorf("the response says %v, want running (stale, as in Graph's race)", op["status"])
			}
			tr := waitTruth(t, sim, callID, "final delivered", func(tr CallTruth) bool { return tr.Operations[0].FinalDelivered })
			if race != slices.Contains(tr.Operations[0].Faults, FaultRace) {
				t.Errorf("truth faults %v", tr.Operations[0].Faults)
			}
			if d := finalDelivery(tr); race && !d.At.Before(tr.Operations[0].RespondedAt) {
				t.Errorf("final delivered at %v, responded at %v", d.At, tr.Operations[0].RespondedAt)
			}
		})
	}
}

// finalDelivery returns the first delivery that carried a final status.
func finalDelivery(tr CallTruth) Delivery {
	for _, d := range tr.Deliveries {
		if slices.Contains(d.Statuses, "completed") || slices.Contains(d.Statuses, "failed") {
			return d
		}
	}
	return Delivery{}
}

// TestDelayFault: delay postpones callbacks and is recorded on them.
func TestDelayFault(t *testing.T) {
	rc := newReceiver(t, nil)
	sim, ts := startSim(t, Config{Faults: MustParseFaults("delay=30ms")})
	callID := createCall(t, ts, rc.url())
	tr := waitTruth(t, sim, callID, "established delivered", delivered("established"))
	for _, d := range tr.Deliveries {
		if !slices.Contains(d.Faults, FaultDelay) {
			t.Errorf("delivery %+v without the delay fault", d)
		}
	}
}

// TestFaultsPerCall: a Graphsim-Faults header on the create applies to the
// call's actions, merged into the configured faults; one on an action
// overrides it for that action only.
func TestFaultsPerCall(t *testing.T) {
	rc := newReceiver(t, nil)
	sim, ts := startSim(t, Config{Faults: MustParseFaults("reorder=1")})
	callID := createCall(t, ts, rc.url(), HeaderFaults, "multi=1")
	action(t, ts, callID, "playPrompt", "a")
	action(t, ts, callID, "playPrompt", "b", HeaderFaults, "multi=0,reorder=0")
	tr := waitTruth(t, sim, callID, "both final", func(tr CallTruth) bool {
		return len(tr.Operations) == 2 && tr.Operations[0].FinalDelivered && tr.Operations[1].FinalDelivered
	})
	if tr.Faults != "reorder=1,multi=1" {
		t.Errorf("call faults %q", tr.Faults)
	}
	if a, b := tr.Operations[0].Faults, tr.Operations[1].Faults; !slices.Equal(a, []string{FaultReorder, FaultMulti}) || len(b) != 0 {
		t.Errorf("faults a %v, b %v", a, b)
	}
}

// TestSeedRepeatable: the same seed, faults and requests give the same call
// and operation ids and the same faults; another seed gives other ids.
func TestSeedRepeatable(t *testing.T) {
	run := func(seed uint64) (ids []string, faults [][]string) {
		rc := newReceiver(t, nil)
		sim, ts := startSim(t, Config{Seed: seed, Faults: MustParseFaults("race=0.5,duplicate=0.5,reorder=0.5,casing=0.5,array=0.5,nullid=0.5,multi=0.5")})
		for range 2 {
			callID := createCall(t, ts, rc.url())
			ids = append(ids, callID)
			for i := range 4 {
				op := action(t, ts, callID, "playPrompt", "cc-"+string(rune('a'+i)))
				ids = append(ids, op["id"].(string))
			}
			tr := waitTruth(t, sim, callID, "all final", func(tr CallTruth) bool {
				return !slices.ContainsFunc(tr.Operations, func(op OperationTruth) bool { return op.Final == "" })
			})
			for _, op := range tr.Operations {
				faults = append(faults, op.Faults)
			}
		}
		return ids, faults
	}
	ids1, f1 := run(42)
	ids2, f2 := run(42)
	ids3, _ := run(43)
	if !slices.Equal(ids1, ids2) {
		t.Errorf("same seed, other ids:\n%v\n%v", ids1, ids2)
	}
	if !slices.EqualFunc(f1, f2, slices.Equal[[]string]) {
		t.Errorf("same seed, other faults:\n%v\n%v", f1, f2)
	}
	if slices.Equal(ids1, ids3) {
		t.Error("another seed gave the same ids")
	}
	if !slices.ContainsFunc(f1, func(f []string) bool { return len(f) > 0 }) {
		t.Error("no fault struck: the comparison proves nothing")
	}
}

// TestParseFaults: the GRAPHSIM_FAULTS syntax.
func TestParseFaults(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"", "none", false},
		{"none", "none", false},
		{"race=0.3,duplicate=0.2,reorder=0.1,deleted=1,casing=0.1,array=0.1,nullid=0.05,multi=0.1,dropfinal=0,delay=20ms",
			"race=0.3,duplicate=0.2,reorder=0.1,deleted=1,casing=0.1,array=0.1,nullid=0.05,multi=0.1,dropfinal=0,delay=20ms", false},
		{"RACE, dropfinal", "race=1,dropfinal=1", false},
		{"race=1.5", "", true},
		{"race=-1", "", true},
		{"delay=soon", "", true},
		{"jitter=1", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			f, err := ParseFaults(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if err == nil && f.String() != tc.want {
				t.Errorf("%q → %q, want %q", tc.in, f.String(), tc.want)
			}
		})
	}
}

// TestParseRetry: the GRAPHSIM_RETRY syntax.
func TestParseRetry(t *testing.T) {
	tests := []struct {
		in   string
		want Retry
		err  bool
	}{
		{"5x200ms", Retry{5, 200 * time.Millisecond}, false},
		{"0x0s", Retry{0, 0}, false},
		{"5", Retry{}, true},
		{"-1x1s", Retry{}, true},
		{"3xsoon", Retry{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseRetry(tc.in)
			if (err != nil) != tc.err || r != tc.want {
				t.Errorf("%q → %v, %v", tc.in, r, err)
			}
		})
	}
}
