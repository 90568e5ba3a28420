package graphwire

import (
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphwire/graphtest"

	"github.com/commsops/commsops/internal/graphid"
)

type wantResponse struct {
	callID, normCallID, action, cc string
	httpStatus                     int
	sentAt                         time.Time
	nullOp                         bool
	odataType, opID                string
	status                         string
	statusRaw                      string
	terminal                       bool
	result                         *ResultInfo
	extra                          []string
	opType                         string // OperationTypeForAction(action)
}

var responseCases = map[string]wantResponse{
	"playprompt_200_running.json": {callID: call57, normCallID: call57, action: "playPrompt", cc: ccD45, httpStatus: 200,
		sentAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), odataType: "#microsoft.graph.playPromptOperation", opID: op0fe,
		status: "running", statusRaw: "running", opType: "#microsoft.graph.playPromptOperation"},
	"subscribetotone_200_completed.json": {callID: call421, normCallID: call421, action: "subscribeToTone", cc: "tone-sub-421f0b00",
		httpStatus: 200, sentAt: time.Date(2026, 11, 22, 10, 0, 1, 250e6, time.UTC),
		odataType: "#microsoft.graph.subscribeToToneOperation", opID: "9c4d2b11-7e8f-4a20-8b6c-1d2e3f405162",
		status: "completed", statusRaw: "completed", terminal: true,
		result: &ResultInfo{Code: 200, Message: "Action completed successfully."}, opType: "#microsoft.graph.subscribeToToneOperation"},
	"record_202_null_operation.json": {callID: call57, normCallID: call57, action: "recordResponse", cc: "rec-7f3a9c2e",
		httpStatus: 202, sentAt: time.Date(2026, 11, 22, 10, 0, 2, 0, time.UTC), nullOp: true, opType: "#microsoft.graph.recordOperation"},
	"mute_400_failed_null_operation.json": {callID: "421F0B003C1E4A5B9A3E5B1D2C8E7F60", normCallID: call421,
		action: "participants/2b9f3c41-1e2d-4c5b-8a7f-6e5d4c3b2a10/mute", cc: "mute-421f0b00", httpStatus: 400, nullOp: true,
		opType: "#microsoft.graph.muteParticipantOperation"},
	"invite_200_running_capitalised.json": {callID: "481F0B00FFFF4CA18C67A5F1E31C8E2A", normCallID: call481,
		action: "participants/invite", cc: "f2fa86af-3c51-4bc2-8fc0-475452d9764f", httpStatus: 200,
		sentAt: time.Date(2026, 11, 22, 10, 0, 3, 0, time.UTC), odataType: "#microsoft.graph.inviteParticipantsOperation",
		opID: "a7e3c4d2-1111-4222-8333-944455556666", status: "running", statusRaw: "Running", extra: []string{"participants"},
		opType: "#microsoft.graph.inviteParticipantsOperation"},
	"operation_context_only.json": {callID: call57, normCallID: call57, action: "cancelMediaProcessing", cc: "cancel-1",
		httpStatus: 200, odataType: "#microsoft.graph.cancelMediaProcessingOperation", opID: "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
		status: "running", statusRaw: "running", opType: "#microsoft.graph.cancelMediaProcessingOperation"},
}

func TestParseActionResponseTestdata(t *testing.T) {
	checkCovered(t, "responses", responseCases)
	for file, w := range responseCases {
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			body := graphtest.Read(t, "responses/"+file)
			r, err := ParseActionResponse(body)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if r.CallID != w.callID || r.NormalizedCallID() != w.normCallID || r.Action != w.action || r.ClientContext != w.cc ||
				r.HTTPStatus != w.httpStatus || !r.SentAt.Equal(w.sentAt) {
				t.Errorf("envelope %+v\nwant call %q (%q) action %q cc %q http %d sentAt %v", r.ActionResponse,
					w.callID, w.normCallID, w.action, w.cc, w.httpStatus, w.sentAt)
			}
			if got := OperationTypeForAction(r.Action); got != w.opType {
				t.Errorf("OperationTypeForAction(%q) = %q, want %q", r.Action, got, w.opType)
			}
			if w.nullOp {
				if r.Op != nil {
					t.Fatalf("null operation parsed as %+v", r.Op)
				}
			} else {
				if r.Op == nil {
					t.Fatal("operation missing")
				}
				op := r.Op
				if op.ODataType != w.odataType || op.ID != w.opID || op.Status != w.status || op.StatusRaw != w.statusRaw ||
					terminal(op.Status) != w.terminal {
					t.Errorf("operation %+v", op)
				}
				if (op.ResultInfo == nil) != (w.result == nil) || w.result != nil && *op.ResultInfo != *w.result {
					t.Errorf("resultInfo %+v, want %+v", op.ResultInfo, w.result)
				}
				for _, k := range w.extra {
					if _, ok := op.Extra[k]; !ok {
						t.Errorf("unknown field %s lost", k)
					}
				}
			}
		})
	}
}

var responseRejections = map[string]struct {
	want  error
	names []string
}{
	"not_json.json":                             {evterr.ErrInvalidJSON, []string{"action response", "invalid character"}},
	"array_top_level.json":                      {evterr.ErrInvalidJSON, []string{"action response", "not a JSON object"}},
	"status_finished.json":                      {evterr.ErrInvalidStatus, []string{`"status"`, "finished"}},
	"httpstatus_0.json":                         {evterr.ErrInvalidPayload, []string{"httpStatus", "0"}},
	"httpstatus_missing.json":                   {evterr.ErrInvalidPayload, []string{"httpStatus"}},
	"httpstatus_string.json":                    {evterr.ErrInvalidPayload, []string{"httpStatus"}},
	"null_operation_without_clientcontext.json": {evterr.ErrInvalidPayload, []string{"clientContext", "operation is null"}},
	"clientcontext_mismatch.json":               {evterr.ErrInvalidPayload, []string{"clientContext", "operation.clientContext"}},
	"missing_callid.json":                       {evterr.ErrInvalidPayload, []string{"callId"}},
	"missing_action.json":                       {evterr.ErrInvalidPayload, []string{"action is required"}},
	"operation_string.json":                     {evterr.ErrInvalidJSON, []string{"operation", "not a JSON object"}},
	"resultinfo_code_bool.json":                 {evterr.ErrInvalidPayload, []string{"resultInfo.code"}},
	"sentat_not_a_time.json":                    {evterr.ErrInvalidPayload, []string{"sentAt"}},
	"clientcontext_257.json":                    {evterr.ErrClientContextTooLong, []string{"clientContext", "257"}},
	"operation_clientcontext_257.json":          {evterr.ErrClientContextTooLong, []string{`"clientContext"`, "257"}},
	"clientcontext_control.json":                {evterr.ErrClientContextInvalid, []string{"clientContext", "U+0000"}},
	"too_deep.json":                             {evterr.ErrTooDeep, []string{"action response"}},
}

func TestParseActionResponseRejectsTestdata(t *testing.T) {
	checkCovered(t, "responses_invalid", responseRejections)
	for file, c := range responseRejections {
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			r, err := ParseActionResponse(graphtest.Read(t, "responses_invalid/"+file))
			if r != nil {
				t.Errorf("a result beside the error: %+v", r)
			}
			graphtest.CheckRejection(t, err, c.want, c.names...)
		})
	}
}

func TestParseActionResponseInline(t *testing.T) {
	const head = `{"callId":"c1","action":"playPrompt",`
	valid := []struct {
		name, body string
		check      func(*ParsedResponse) bool
	}{
		{"operation absent is null", head + `"httpStatus":202,"clientContext":"x"}`, func(r *ParsedResponse) bool { return r.Op == nil }},
		{"httpStatus 100", head + `"httpStatus":100,"clientContext":"x","operation":null}`, func(r *ParsedResponse) bool { return r.HTTPStatus == 100 }},
		{"httpStatus 599", head + `"httpStatus":599,"clientContext":"x","operation":null}`, func(r *ParsedResponse) bool { return r.HTTPStatus == 599 }},
		{"operation without clientContext", head + `"httpStatus":200,"operation":{"id":"1","status":"running"}}`,
			func(r *ParsedResponse) bool { return r.ClientContext == "" && r.Op.ID == "1" }},
		{"same clientContext twice", head + `"httpStatus":200,"clientContext":"x","operation":{"id":"1","clientContext":"x"}}`,
			func(r *ParsedResponse) bool { return r.ClientContext == "x" }},
		{"operation clientContext null", head + `"httpStatus":200,"clientContext":"x","operation":{"id":"1","clientContext":null}}`,
			func(r *ParsedResponse) bool { return r.ClientContext == "x" }},
		{"unknown envelope fields", head + `"httpStatus":202,"clientContext":"x","operation":null,"botVersion":"1.2"}`,
			func(r *ParsedResponse) bool { return r.Op == nil }},
		{"256-character clientContext", head + `"httpStatus":202,"operation":null,"clientContext":"` + strings.Repeat("日", 256) + `"}`,
			func(r *ParsedResponse) bool { return r.ClientContext == strings.Repeat("日", 256) }},
		{"failed terminal operation", head + `"httpStatus":200,"clientContext":"x","operation":{"id":"1","status":"failed","resultInfo":{"code":500,"subcode":9999}}}`,
			func(r *ParsedResponse) bool { return terminal(r.Op.Status) && r.Op.ResultInfo.Code == 500 }},
	}
	for _, c := range valid {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseActionResponse([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(r) {
				t.Errorf("parsed %+v / %+v", r.ActionResponse, r.Op)
			}
		})
	}
	invalid := []struct {
		name, body string
		want       error
		names      []string
	}{
		{"empty", ``, evterr.ErrInvalidJSON, []string{"action response"}},
		{"null", `null`, evterr.ErrInvalidJSON, []string{"not a JSON object"}},
		{"sentAt a number", head + `"httpStatus":202,"clientContext":"x","sentAt":5}`, evterr.ErrInvalidPayload, []string{"sentAt"}},
		{"sentAt month 13", head + `"httpStatus":202,"clientContext":"x","sentAt":"2026-13-01T00:00:00Z"}`, evterr.ErrInvalidPayload, []string{"sentAt"}},
		{"blank callId", `{"callId":"  ","action":"a","httpStatus":202,"clientContext":"x"}`, evterr.ErrInvalidPayload, []string{"callId"}},
		{"callId a number", `{"callId":5,"action":"a","httpStatus":202,"clientContext":"x"}`, evterr.ErrInvalidPayload, []string{"callId"}},
		{"httpStatus 99", head + `"httpStatus":99,"clientContext":"x"}`, evterr.ErrInvalidPayload, []string{"httpStatus", "99"}},
		{"httpStatus 600", head + `"httpStatus":600,"clientContext":"x"}`, evterr.ErrInvalidPayload, []string{"httpStatus", "600"}},
		{"httpStatus negative", head + `"httpStatus":-200,"clientContext":"x"}`, evterr.ErrInvalidPayload, []string{"httpStatus"}},
		{"httpStatus fractional", head + `"httpStatus":200.5,"clientContext":"x"}`, evterr.ErrInvalidPayload, []string{"httpStatus"}},
		{"operation an array", head + `"httpStatus":200,"clientContext":"x","operation":[]}`, evterr.ErrInvalidJSON, []string{"operation"}},
		{"operation a number", head + `"httpStatus":200,"clientContext":"x","operation":1}`, evterr.ErrInvalidJSON, []string{"operation"}},
		{"operation clientContext with NUL", head + `"httpStatus":200,"operation":{"clientContext":"a\u0000"}}`, evterr.ErrClientContextInvalid, []string{"clientContext"}},
		{"envelope clientContext an object", head + `"httpStatus":202,"clientContext":{}}`, evterr.ErrInvalidPayload, []string{"clientContext"}},
		{"clientContexts differ by case", head + `"httpStatus":200,"clientContext":"x","operation":{"clientContext":"X"}}`, evterr.ErrInvalidPayload, []string{"clientContext"}},
		{"status an empty object", head + `"httpStatus":200,"clientContext":"x","operation":{"status":{}}}`, evterr.ErrInvalidPayload, []string{`"status"`}},
	}
	for _, c := range invalid {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseActionResponse([]byte(c.body))
			if r != nil {
				t.Errorf("a result beside the error: %+v", r)
			}
			graphtest.CheckRejection(t, err, c.want, c.names...)
		})
	}
}

func TestOperationTypeForAction(t *testing.T) {
	const ns = "#microsoft.graph."
	cases := []struct{ action, want string }{
		{"playPrompt", ns + "playPromptOperation"},
		{"PlayPrompt", ns + "playPromptOperation"},
		{" playprompt ", ns + "playPromptOperation"},
		{"/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/playPrompt", ns + "playPromptOperation"},
		{"record", ns + "recordOperation"},
		{"recordResponse", ns + "recordOperation"},
		{"subscribeToTone", ns + "subscribeToToneOperation"},
		{"sendDtmfTones", ns + "sendDtmfTonesOperation"},
		{"cancelMediaProcessing", ns + "cancelMediaProcessingOperation"},
		{"mute", ns + "muteParticipantOperation"},
		{"call/mute", ns + "muteParticipantOperation"},
		{"participant/mute", ns + "muteParticipantOperation"},
		{"participants/2b9f3c41-1e2d-4c5b-8a7f-6e5d4c3b2a10/mute", ns + "muteParticipantOperation"},
		{"unmute", ns + "unmuteParticipantOperation"},
		{"invite", ns + "inviteParticipantsOperation"},
		{"participants/invite", ns + "inviteParticipantsOperation"},
		{"/participants/invite/", ns + "inviteParticipantsOperation"},
		{"startHoldMusic", ns + "startHoldMusicOperation"},
		{"stopHoldMusic", ns + "stopHoldMusicOperation"},
		{"updateRecordingStatus", ns + "updateRecordingStatusOperation"},
		{"addLargeGalleryView", ns + "addLargeGalleryViewOperation"},
		{"participants/muteMultiple", ns + "muteParticipantsOperation"},
		{"answer", ""},
		{"transfer", ""},
		{"", ""},
		{"/", ""},
		{"playPrompt/x", ""},
	}
	for _, c := range cases {
		t.Run(c.action, func(t *testing.T) {
			got := OperationTypeForAction(c.action)
			if got != c.want {
				t.Errorf("OperationTypeForAction(%q) = %q, want %q", c.action, got, c.want)
			}
			if got != "" && ResourceKind(got, ResourcePath{}) != KindOperation {
				t.Errorf("%q is not classified as an operation", got)
			}
		})
	}
}

func TestValidateClientContext(t *testing.T) {
	valid := []string{"", "a", ccD45, strings.Repeat("x", graphid.MaxClientContextLen), strings.Repeat("é", graphid.MaxClientContextLen),
		strings.Repeat("日", graphid.MaxClientContextLen), strings.Repeat("😀", graphid.MaxClientContextLen), "a b", "a.b*>", "\u00a0", "\u2028", "\uFFFD",
		`{"json":"inside"}`, "%zz", "_" + strings.Repeat("A", 43)}
	for _, cc := range valid {
		if err := graphid.ValidateClientContext(cc); err != nil {
			t.Errorf("graphid.ValidateClientContext(%.20q…) = %v", cc, err)
		}
	}
	invalid := []struct {
		name, cc string
		want     error
		names    []string
	}{
		{"257 ASCII", strings.Repeat("x", graphid.MaxClientContextLen+1), evterr.ErrClientContextTooLong, []string{"257", "256"}},
		{"257 two-byte", strings.Repeat("é", graphid.MaxClientContextLen+1), evterr.ErrClientContextTooLong, []string{"257"}},
		{"long and with control chars", strings.Repeat("\x01", 300), evterr.ErrClientContextTooLong, []string{"300"}},
		{"NUL", "a\x00b", evterr.ErrClientContextInvalid, []string{"U+0000", "byte 1"}},
		{"tab", "a\tb", evterr.ErrClientContextInvalid, []string{"U+0009"}},
		{"newline", "a\n", evterr.ErrClientContextInvalid, []string{"U+000A"}},
		{"carriage return", "\r", evterr.ErrClientContextInvalid, []string{"U+000D"}},
		{"unit separator", "\x1f", evterr.ErrClientContextInvalid, []string{"U+001F"}},
		{"DEL", "\x7f", evterr.ErrClientContextInvalid, []string{"U+007F"}},
		{"C1 U+0080", "\u0080", evterr.ErrClientContextInvalid, []string{"U+0080"}},
		{"C1 U+009F", "x\u009f", evterr.ErrClientContextInvalid, []string{"U+009F"}},
		{"invalid UTF-8", "a\xffb", evterr.ErrClientContextInvalid, []string{"UTF-8"}},
		{"truncated UTF-8", "\xc3", evterr.ErrClientContextInvalid, []string{"UTF-8"}},
		{"surrogate half", "\xed\xa0\x80", evterr.ErrClientContextInvalid, []string{"UTF-8"}},
	}
	for _, c := range invalid {
		t.Run(c.name, func(t *testing.T) {
			graphtest.CheckRejection(t, graphid.ValidateClientContext(c.cc), c.want, c.names...)
		})
	}
}
