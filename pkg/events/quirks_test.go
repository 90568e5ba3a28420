package events

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func readQuirk(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNotificationQuirks parses every quirk of FACTS.md from testdata/.
func TestNotificationQuirks(t *testing.T) {
	type res struct {
		kind            Kind
		callID, opID    string
		status          Status
		cc, changeType  string
		code, subcode   int
		extra           []string
		resultInfoIsNil bool
	}
	cases := []struct {
		file string
		want []res
	}{
		{"quirk_playprompt_completed.json", []res{{kind: KindOperation, callID: "57dab8b1-894c-409a-b240-bd8beae78896",
			opID: "0fe0623f-d628-42ed-b4bd-8ac290072cc5", status: StatusCompleted, cc: "d45324c1-fcb5-430a-902c-f20af696537c",
			changeType: "deleted", code: 200, extra: []string{"@odata.id", "@odata.etag"}}}},
		{"quirk_record_failed_old_resource.json", []res{{kind: KindOperation, callID: "57dab8b1-894c-409a-b240-bd8beae78896",
			opID: "b2c3d4e5-0000-4000-8000-000000000002", status: StatusFailed, cc: "rec-1", changeType: "updated",
			code: 400, subcode: 8508, extra: []string{"recordingLocation", "recordingAccessToken", "createdDateTime", "lastActionDateTime"}}}},
		{"quirk_invite_null_id_no_slash.json", []res{{kind: KindOperation, callID: "57dab8b1-894c-409a-b240-bd8beae78896",
			opID: "", status: StatusCompleted, cc: "inv-1", changeType: "deleted", resultInfoIsNil: true}}},
		{"quirk_roster_array_and_call.json", []res{
			{kind: KindParticipant, callID: "57dab8b1-894c-409a-b240-bd8beae78896", changeType: "updated", resultInfoIsNil: true},
			{kind: KindParticipant, callID: "57dab8b1-894c-409a-b240-bd8beae78896", changeType: "updated", resultInfoIsNil: true},
			{kind: KindCall, callID: "57dab8b1-894c-409a-b240-bd8beae78896", changeType: "updated", resultInfoIsNil: true},
			{kind: KindOperation, callID: "57dab8b1-894c-409a-b240-bd8beae78896", opID: "9e0623f0-d628-42ed-b4bd-8ac290072cc5",
				status: StatusRunning, changeType: "updated", extra: []string{"newField"}, resultInfoIsNil: true},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			n, err := ParseNotifications(readQuirk(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var got []res
			for _, item := range n.Items {
				for _, raw := range item.Resources {
					r := res{kind: ResourceKind(ResourceType(raw), item.Path), callID: item.Path.CallID, changeType: item.ChangeType, resultInfoIsNil: true}
					if r.kind == KindOperation {
						op, err := ParseOperation(raw)
						if err != nil {
							t.Fatal(err)
						}
						r.opID, r.status, r.cc = op.ID, op.Status, op.ClientContext
						if r.opID == "" {
							r.opID = item.Path.OperationID
						}
						if op.ResultInfo != nil {
							r.code, r.subcode, r.resultInfoIsNil = op.ResultInfo.Code, op.ResultInfo.Subcode, false
						}
						for k := range op.Extra {
							r.extra = append(r.extra, k)
						}
					}
					got = append(got, r)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d resources, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.kind != w.kind || g.callID != w.callID || g.opID != w.opID || g.status != w.status || g.cc != w.cc ||
					g.changeType != w.changeType || g.code != w.code || g.subcode != w.subcode || g.resultInfoIsNil != w.resultInfoIsNil {
					t.Errorf("resource %d: got %+v\nwant %+v", i, g, w)
				}
				for _, k := range w.extra {
					if !strings.Contains(strings.Join(g.extra, ","), k) {
						t.Errorf("resource %d lost unknown field %s (kept %v)", i, k, g.extra)
					}
				}
			}
		})
	}
}

// TestNotificationEventsSplitPerResource: one CloudEvent per resource, with
// the array narrowed to its element, keyed as the contract says.
func TestNotificationEventsSplitPerResource(t *testing.T) {
	n, err := ParseNotifications(readQuirk(t, "quirk_roster_array_and_call.json"))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := NotificationEvents(n, InboundOptions{MessageID: "m-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 4 {
		t.Fatalf("%d events, want 4", len(ins))
	}
	wantTypes := []string{TypeParticipantNotification, TypeParticipantNotification, TypeCallNotification, TypeOperationNotification}
	ids := map[string]bool{}
	for i, in := range ins {
		if in.Event.Type() != wantTypes[i] {
			t.Errorf("event %d type %s, want %s", i, in.Event.Type(), wantTypes[i])
		}
		if ids[in.Event.ID()] {
			t.Errorf("event %d repeats id %s", i, in.Event.ID())
		}
		ids[in.Event.ID()] = true
		var item struct {
			ResourceData json.RawMessage `json:"resourceData"`
		}
		if err := json.Unmarshal(in.Event.Data(), &item); err != nil || len(item.ResourceData) == 0 || item.ResourceData[0] != '{' {
			t.Errorf("event %d data does not hold one resource object: %s", i, in.Event.Data())
		}
		if err := in.Event.Validate(); err != nil {
			t.Errorf("event %d invalid: %v", i, err)
		}
	}
	if ins[3].Key != OperationKey("", "57dab8b1-894c-409a-b240-bd8beae78896", "9e0623f0-d628-42ed-b4bd-8ac290072cc5") {
		t.Errorf("operation without clientContext keyed %s", ins[3].Key)
	}
	if ins[0].Key != CallKey("57DAB8B1894C409AB240BD8BEAE78896") {
		t.Errorf("participant keyed %s", ins[0].Key)
	}
	// The same callback again (Graph's retry) yields the same ids.
	again, _ := NotificationEvents(n, InboundOptions{MessageID: "m-2"})
	for i := range ins {
		if again[i].Event.ID() != ins[i].Event.ID() {
			t.Errorf("event %d id changed on retry", i)
		}
	}
}

func TestActionResponseQuirks(t *testing.T) {
	r, err := ParseActionResponse(readQuirk(t, "quirk_response_invite_running.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Op == nil || r.Op.Status != StatusRunning || r.Op.ID != "a7e3c4d2-1111-4222-8333-944455556666" ||
		r.NormalizedCallID() != "57dab8b1-894c-409a-b240-bd8beae78896" || r.Op.StatusRaw != "Running" {
		t.Fatalf("parsed %+v / %+v", r, r.Op)
	}
	r, err = ParseActionResponse(readQuirk(t, "quirk_response_null_operation.json"))
	if err != nil || r.Op != nil || r.ClientContext != "tone-1" || OperationTypeForAction(r.Action) != "#microsoft.graph.subscribeToToneOperation" {
		t.Fatalf("null operation: %+v %v", r, err)
	}
	invalid := []struct {
		name, body string
		want       error
	}{
		{"not json", `{"callId":`, ErrInvalidJSON},
		{"array", `[]`, ErrInvalidJSON},
		{"no callId", `{"action":"a","httpStatus":200,"operation":null,"clientContext":"c"}`, ErrInvalidPayload},
		{"httpStatus 0", `{"callId":"c","action":"a","httpStatus":0,"operation":null,"clientContext":"c"}`, ErrInvalidPayload},
		{"null operation without clientContext", `{"callId":"c","action":"a","httpStatus":202,"operation":null}`, ErrInvalidPayload},
		{"clientContext mismatch", `{"callId":"c","action":"a","httpStatus":200,"clientContext":"x","operation":{"id":"1","status":"running","clientContext":"y"}}`, ErrInvalidPayload},
		{"bad status", `{"callId":"c","action":"a","httpStatus":200,"clientContext":"x","operation":{"id":"1","status":"finished"}}`, ErrInvalidStatus},
		{"257 characters", `{"callId":"c","action":"a","httpStatus":202,"operation":null,"clientContext":"` + strings.Repeat("x", 257) + `"}`, ErrClientContextTooLong},
		{"control character", `{"callId":"c","action":"a","httpStatus":202,"operation":null,"clientContext":"a\u0001"}`, ErrClientContextInvalid},
		{"too deep", `{"callId":"c","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, ErrTooDeep},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseActionResponse([]byte(tc.body))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNotificationRejections(t *testing.T) {
	cases := []struct {
		name, body string
		want       error
	}{
		{"not json", `{"value":[`, ErrInvalidJSON},
		{"top-level array", `[{"value":[]}]`, ErrInvalidJSON},
		{"no value", `{"@odata.type":"#microsoft.graph.commsNotifications"}`, ErrInvalidPayload},
		{"value not an array", `{"value":{}}`, ErrInvalidPayload},
		{"item not an object", `{"value":[1]}`, ErrInvalidJSON},
		{"resourceData a string", `{"value":[{"resourceUrl":"/communications/calls/x","resourceData":"x"}]}`, ErrInvalidPayload},
		{"resourceData array of numbers", `{"value":[{"resourceUrl":"/communications/calls/x","resourceData":[1]}]}`, ErrInvalidPayload},
		{"too deep", `{"value":[],"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, ErrTooDeep},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNotifications([]byte(tc.body))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNormalizeIDAndPaths(t *testing.T) {
	cases := []struct{ in, want string }{
		{"57DAB8B1894C409AB240BD8BEAE78896", "57dab8b1-894c-409a-b240-bd8beae78896"},
		{"57dab8b1-894c-409a-b240-bd8beae78896", "57dab8b1-894c-409a-b240-bd8beae78896"},
		{"{57DAB8B1-894C-409A-B240-BD8BEAE78896}", "57dab8b1-894c-409a-b240-bd8beae78896"},
		{" Not-A-Guid ", "not-a-guid"},
		{"", ""},
	}
	for _, c := range cases {
		if got := NormalizeID(c.in); got != c.want {
			t.Errorf("NormalizeID(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	paths := []struct {
		url      string
		call, op string
		isOp     bool
	}{
		{"/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0FE0623FD62842EDB4BD8AC290072CC5", "57dab8b1-894c-409a-b240-bd8beae78896", "0fe0623f-d628-42ed-b4bd-8ac290072cc5", true},
		{"/app/calls/abc/operations/1234", "abc", "1234", true},
		{"communications/calls/abc/operations/participants", "abc", "", true},
		{"/communications/calls/abc", "abc", "", false},
		{"https://graph.microsoft.com/v1.0/communications/calls/abc/participants", "abc", "", false},
	}
	for _, c := range paths {
		p := ParseResourcePath(c.url)
		if p.CallID != c.call || p.OperationID != c.op || p.IsOperation != c.isOp {
			t.Errorf("ParseResourcePath(%q) = %+v", c.url, p)
		}
	}
}

// TestStatusLattice: parsing in any casing, ranks and terminality.
func TestStatusLattice(t *testing.T) {
	cases := []struct {
		in       string
		want     Status
		rank     int
		terminal bool
	}{
		{"notStarted", StatusNotStarted, 1, false}, {"NOTSTARTED", StatusNotStarted, 1, false}, {"not_started", StatusNotStarted, 1, false},
		{"Running", StatusRunning, 2, false}, {"completed", StatusCompleted, 3, true}, {"Failed", StatusFailed, 3, true},
		{"stalled", StatusStalled, 0, false},
	}
	for _, c := range cases {
		s, err := ParseStatus(c.in)
		if err != nil || s != c.want || s.Rank() != c.rank || s.Terminal() != c.terminal {
			t.Errorf("ParseStatus(%q) = %q %v rank %d terminal %v", c.in, s, err, s.Rank(), s.Terminal())
		}
	}
	for _, bad := range []string{"", "finished", "done"} {
		if _, err := ParseStatus(bad); !errors.Is(err, ErrInvalidStatus) {
			t.Errorf("ParseStatus(%q) err = %v", bad, err)
		}
	}
}

// TestResolvedOperationKeepsExtraFields: further fields are written at the top
// level and never override the named ones; they survive a round trip.
func TestResolvedOperationKeepsExtraFields(t *testing.T) {
	r := ResolvedOperation{ClientContext: "cc", Status: StatusCompleted, Sources: []Source{},
		Extra: map[string]json.RawMessage{"recordingLocation": json.RawMessage(`"https://x"`), "status": json.RawMessage(`"evil"`)}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back ResolvedOperation
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Status != StatusCompleted || string(back.Extra["recordingLocation"]) != `"https://x"` {
		t.Fatalf("round trip: %s → %+v", b, back)
	}
	if _, leaked := back.Extra["status"]; leaked {
		t.Fatal("a named field came back as extra")
	}
}
