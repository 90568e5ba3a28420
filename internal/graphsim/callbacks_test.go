package graphsim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/pkg/events"
)

// TestCallbacksParse: every callback of a call and of each action is in
// Graph's commsNotifications shape, carries Graph's headers, and is parsed
// by pkg/events without error: each operation item by
// ParseOperationNotification, with its clientContext echoed and its id
// (unless the nullid fault nulls it) the operation's; each operation is
// notified running and then completed. It holds with no fault and with
// every shaping fault at once.
func TestCallbacksParse(t *testing.T) {
	tests := []struct {
		name   string
		faults string
		nullID bool
	}{
		{"plain", "", false},
		{"every fault", "duplicate=1,deleted=1,casing=1,array=1,nullid=1,multi=1,reorder=1,delay=5ms", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			sim, ts := startSim(t, Config{Faults: MustParseFaults(tc.faults)})
			callID := createCall(t, ts, rc.url())
			opIDs := map[string]string{} // clientContext → operation id
			for _, a := range operationActions {
				if a.path == "cancelMediaProcessing" {
					continue // it would fail the media operations; TestCancelMediaProcessing covers it
				}
				cc := "cc-" + a.path
				op := action(t, ts, callID, a.path, cc)
				opIDs[cc] = op["id"].(string)
			}
			tr := waitTruth(t, sim, callID, "every callback delivered", func(tr CallTruth) bool {
				if len(tr.Operations) != len(opIDs) {
					return false
				}
				for _, op := range tr.Operations {
					if !op.FinalDelivered {
						return false
					}
				}
				return slices.ContainsFunc(tr.Deliveries, func(d Delivery) bool { return slices.Contains(d.Statuses, "established") })
			})
			_ = tr
			seen := map[string][]string{} // clientContext → statuses, in order received
			var callStates []string
			for _, got := range rc.all() {
				if !strings.HasPrefix(got.Header.Get("Authorization"), "Bearer ") || got.Header.Get(headerMessageID) == "" ||
					got.Header.Get("User-Agent") != userAgent || got.Header.Get("Content-Type") != "application/json" {
					t.Errorf("headers %v", got.Header)
				}
				n, err := graphwire.ParseNotifications(got.Body)
				if err != nil {
					t.Fatalf("ParseNotifications: %v\n%s", err, got.Body)
				}
				if n.ODataType != typeNotifications || len(n.Items) == 0 {
					t.Errorf("callback %s", got.Body)
				}
				for _, item := range n.Items {
					if item.ODataType != typeNotification || item.Path.CallID != callID {
						t.Errorf("item %s", item.Raw)
					}
					var rt struct {
						ODataType string `json:"@odata.type"`
					}
					mustUnmarshal(t, item.Resources[0], &rt)
					kind := graphwire.ResourceKind(rt.ODataType, item.Path)
					if kind == graphwire.KindCall {
						var st struct{ State string }
						mustUnmarshal(t, item.Resources[0], &st)
						callStates = append(callStates, st.State)
						continue
					}
					if kind != graphwire.KindOperation {
						t.Fatalf("kind %q of %s", kind, item.Raw)
					}
					_, op, err := graphwire.ParseOperationNotification(item.Raw)
					if err != nil {
						t.Fatalf("ParseOperationNotification: %v\n%s", err, item.Raw)
					}
					want, ok := opIDs[op.ClientContext]
					if !ok {
						t.Fatalf("clientContext %q not echoed: %s", op.ClientContext, item.Raw)
					}
					if tc.nullID {
						if op.ID != "" || item.Path.OperationID != "" {
							t.Errorf("nullid: id %q, path %+v", op.ID, item.Path)
						}
					} else if op.ID != want || item.Path.OperationID != want {
						t.Errorf("id %q, path %q, want %q", op.ID, item.Path.OperationID, want)
					}
					if op.Status == string(events.StatusCompleted) && (op.ResultInfo == nil || op.ResultInfo.Code != 200) {
						t.Errorf("completed without resultInfo 200: %s", item.Raw)
					}
					if tc.nullID == false && op.ODataType == "" {
						t.Errorf("no @odata.type: %s", item.Raw)
					}
					if op.ClientContext == "cc-participants/invite" {
						var raw struct{ Resource string }
						mustUnmarshal(t, item.Raw, &raw)
						if graphwire.ParseResourcePath(raw.Resource).CallID != callID || !strings.HasPrefix(raw.Resource, "/app/calls/") {
							t.Errorf("invite item without the older resource field: %s", item.Raw)
						}
					}
					seen[op.ClientContext] = append(seen[op.ClientContext], op.Status)
				}
			}
			for cc := range opIDs {
				st := seen[cc]
				if !slices.Contains(st, "running") || !slices.Contains(st, "completed") {
					t.Errorf("%s: statuses %v, want running and completed", cc, st)
				}
			}
			if !slices.Contains(callStates, "establishing") || !slices.Contains(callStates, "established") {
				t.Errorf("call states %v", callStates)
			}
		})
	}
}

// TestCancelMediaProcessing: a playPrompt still running when
// cancelMediaProcessing is sent ends failed with Graph's cancelled
// resultInfo (400/8508) and completionReason operationCanceled; the cancel
// itself completes.
func TestCancelMediaProcessing(t *testing.T) {
	rc := newReceiver(t, nil)
	sim, ts := startSim(t, Config{Step: 300 * time.Millisecond})
	callID := createCall(t, ts, rc.url())
	play := action(t, ts, callID, "playPrompt", "prompt-1")
	action(t, ts, callID, "cancelMediaProcessing", "cancel-1")
	tr := waitTruth(t, sim, callID, "both operations delivered final", func(tr CallTruth) bool {
		return len(tr.Operations) == 2 && tr.Operations[0].FinalDelivered && tr.Operations[1].FinalDelivered
	})
	p, c := tr.Operations[0], tr.Operations[1]
	if p.ID != play["id"] || p.Final != "failed" || p.ResultInfo == nil || p.ResultInfo.Subcode != 8508 || c.Final != "completed" {
		t.Fatalf("operations %+v %+v", p, c)
	}
	found := false
	for _, got := range rc.all() {
		n, err := graphwire.ParseNotifications(got.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range n.Items {
			if _, op, err := graphwire.ParseOperationNotification(item.Raw); err == nil && op != nil && op.ClientContext == "prompt-1" && op.Status == string(events.StatusFailed) {
				found = op.CompletionReason == "operationCanceled" && op.ResultInfo != nil && op.ResultInfo.Code == 400
			}
		}
	}
	if !found {
		t.Error("no failed playPrompt callback with operationCanceled and code 400")
	}
}

// TestNoCallbackUri: a call created without a callbackUri calls back to
// the configured CallbackURL.
func TestNoCallbackUri(t *testing.T) {
	rc := newReceiver(t, nil)
	sim, ts := startSim(t, Config{CallbackURL: rc.url()})
	status, _, body := do(t, http.MethodPost, ts.URL+"/beta/communications/calls", `{"requestedModalities":["audio"]}`)
	if status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	callID := sim.CallIDs()[0]
	waitTruth(t, sim, callID, "established delivered", func(tr CallTruth) bool {
		return slices.ContainsFunc(tr.Deliveries, func(d Delivery) bool {
			return d.Outcome == OutcomeDelivered && slices.Contains(d.Statuses, "established")
		})
	})
	if n := len(rc.all()); n < 2 {
		t.Errorf("the receiver got %d callbacks, want establishing and established", n)
	}
}
