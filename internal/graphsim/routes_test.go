package graphsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// operationActions are the actions that answer 200 with a commsOperation,
// with the @odata.type and status Graph answers them with.
var operationActions = []struct {
	path, odataType, status string
}{
	{"playPrompt", "#microsoft.graph.playPromptOperation", "running"},
	{"recordResponse", "#microsoft.graph.recordOperation", "running"},
	{"subscribeToTone", "#microsoft.graph.subscribeToToneOperation", "running"},
	{"mute", "#microsoft.graph.muteParticipantOperation", "running"},
	{"unmute", "#microsoft.graph.unmuteParticipantOperation", "running"},
	{"updateRecordingStatus", "#microsoft.graph.updateRecordingStatusOperation", "running"},
	{"cancelMediaProcessing", "#microsoft.graph.cancelMediaProcessingOperation", "running"},
	{"startHoldMusic", "#microsoft.graph.startHoldMusicOperation", "running"},
	{"stopHoldMusic", "#microsoft.graph.stopHoldMusicOperation", "running"},
	{"sendDtmfTones", "#microsoft.graph.sendDtmfTonesOperation", "running"},
	{"participants/invite", "#microsoft.graph.inviteParticipantsOperation", "Running"},
	{"participants/7b3e1e1c-0d6e-4bd4-8e3c-6d1c0a2b5f10/mute", "#microsoft.graph.muteParticipantOperation", "running"},
}

// TestCreateCall: 201 with the call (id, state establishing, the
// callbackUri, the request's fields) and its Location, under both versions.
func TestCreateCall(t *testing.T) {
	rc := newReceiver(t, nil)
	_, ts := startSim(t, Config{})
	for _, v := range APIVersions {
		t.Run(v, func(t *testing.T) {
			status, hdr, body := do(t, http.MethodPost, ts.URL+"/"+v+"/communications/calls", fixture(t, "create-call.json", "CALLBACK", rc.url()))
			if status != http.StatusCreated {
				t.Fatalf("status %d %s", status, body)
			}
			var c map[string]any
			if err := json.Unmarshal(body, &c); err != nil {
				t.Fatal(err)
			}
			id, _ := c["id"].(string)
			if id == "" || c["state"] != "establishing" || c["callbackUri"] != rc.url() || c["@odata.type"] != "#microsoft.graph.call" || c["subject"] != "graphsim test call" {
				t.Errorf("call = %s", body)
			}
			if want := ts.URL + "/" + v + "/communications/calls/" + id; hdr.Get("Location") != want {
				t.Errorf("Location = %q, want %q", hdr.Get("Location"), want)
			}
			status, _, body = do(t, http.MethodGet, ts.URL+"/"+v+"/communications/calls/"+id, "")
			if status != http.StatusOK || !strings.Contains(string(body), id) {
				t.Errorf("GET call: %d %s", status, body)
			}
		})
	}
}

// TestOperationActions: each action that returns a commsOperation answers
// 200 with it (its @odata.type, an id, Graph's status, the clientContext
// echoed, resultInfo null) and a Location naming the operation.
func TestOperationActions(t *testing.T) {
	rc := newReceiver(t, nil)
	_, ts := startSim(t, Config{})
	for _, v := range APIVersions {
		callID := createCall(t, ts, rc.url())
		for _, a := range operationActions {
			t.Run(v+"/"+a.path, func(t *testing.T) {
				cc := "cc-" + a.path
				status, hdr, body := do(t, http.MethodPost, ts.URL+"/"+v+"/communications/calls/"+callID+"/"+a.path, `{"clientContext":"`+cc+`"}`)
				if status != http.StatusOK {
					t.Fatalf("status %d %s", status, body)
				}
				if ct := hdr.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				var op map[string]any
				if err := json.Unmarshal(body, &op); err != nil {
					t.Fatal(err)
				}
				id, _ := op["id"].(string)
				if id == "" || op["@odata.type"] != a.odataType || op["status"] != a.status || op["clientContext"] != cc {
					t.Errorf("operation = %s", body)
				}
				if ri, ok := op["resultInfo"]; !ok || ri != nil {
					t.Errorf("resultInfo = %v, want null", ri)
				}
				if want := ts.URL + "/" + v + "/communications/calls/" + callID + "/operations/" + id; hdr.Get("Location") != want {
					t.Errorf("Location = %q, want %q", hdr.Get("Location"), want)
				}
			})
		}
	}
}

// TestCallStateActions: answer, reject and transfer answer 202 with no
// body, delete 204; a call ended by reject, transfer or delete is then
// unknown (404).
func TestCallStateActions(t *testing.T) {
	rc := newReceiver(t, nil)
	_, ts := startSim(t, Config{})
	tests := []struct {
		name, method, path string
		want               int
		ends               bool
	}{
		{"answer", http.MethodPost, "/answer", http.StatusAccepted, false},
		{"reject", http.MethodPost, "/reject", http.StatusAccepted, true},
		{"transfer", http.MethodPost, "/transfer", http.StatusAccepted, true},
		{"delete", http.MethodDelete, "", http.StatusNoContent, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			callID := createCall(t, ts, rc.url())
			body := ""
			if tc.method == http.MethodPost {
				body = `{"callbackUri":"` + rc.url() + `","acceptedModalities":["audio"]}`
			}
			status, _, b := do(t, tc.method, ts.URL+"/v1.0/communications/calls/"+callID+tc.path, body)
			if status != tc.want || len(b) != 0 {
				t.Fatalf("%s: %d %q, want %d and no body", tc.name, status, b, tc.want)
			}
			status, _, _ = do(t, http.MethodGet, ts.URL+"/v1.0/communications/calls/"+callID, "")
			if ended := status == http.StatusNotFound; ended != tc.ends {
				t.Errorf("GET after %s: %d", tc.name, status)
			}
		})
	}
}

// TestErrors: an unknown call id is 404 in Graph's error shape; an unknown
// action, a bad body, an invalid Graphsim-Faults header and an overlong
// clientContext are 400.
func TestErrors(t *testing.T) {
	rc := newReceiver(t, nil)
	_, ts := startSim(t, Config{})
	callID := createCall(t, ts, rc.url())
	calls := ts.URL + "/v1.0/communications/calls/"
	tests := []struct {
		name, method, url, body string
		hdr                     []string
		want                    int
		code                    string
	}{
		{"unknown call action", http.MethodPost, calls + "00000000-0000-4000-8000-000000000000/playPrompt", `{}`, nil, 404, "itemNotFound"},
		{"unknown call delete", http.MethodDelete, calls + "nope", "", nil, 404, "itemNotFound"},
		{"unknown call get", http.MethodGet, calls + "nope", "", nil, 404, "itemNotFound"},
		{"unknown action", http.MethodPost, calls + callID + "/dance", `{}`, nil, 400, "BadRequest"},
		{"not JSON", http.MethodPost, calls + callID + "/playPrompt", `[1`, nil, 400, "BadRequest"},
		{"bad faults", http.MethodPost, calls + callID + "/playPrompt", `{}`, []string{HeaderFaults, "race=2"}, 400, "BadRequest"},
		{"long clientContext", http.MethodPost, calls + callID + "/playPrompt", `{"clientContext":"` + strings.Repeat("x", 257) + `"}`, nil, 400, "BadRequest"},
		{"bad callbackUri", http.MethodPost, ts.URL + "/v1.0/communications/calls", `{"callbackUri":"ftp://x"}`, nil, 400, "BadRequest"},
		{"truth of unknown call", http.MethodGet, ts.URL + "/graphsim/v1/calls/nope", "", nil, 404, "itemNotFound"},
		{"bad rotate after", http.MethodPost, ts.URL + "/graphsim/v1/rotate-key?after=soon", "", nil, 400, "BadRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := append([]string{"client-request-id", "c0ffee"}, tc.hdr...)
			status, h, body := do(t, tc.method, tc.url, tc.body, hdr...)
			if status != tc.want {
				t.Fatalf("status %d, want %d (%s)", status, tc.want, body)
			}
			var e struct {
				Error struct {
					Code, Message string
					InnerError    map[string]string `json:"innerError"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if e.Error.Code != tc.code || e.Error.Message == "" || e.Error.InnerError["request-id"] == "" ||
				e.Error.InnerError["client-request-id"] != "c0ffee" || e.Error.InnerError["date"] == "" {
				t.Errorf("error = %s", body)
			}
			if h.Get("request-id") == "" {
				t.Error("no request-id header")
			}
		})
	}
}
