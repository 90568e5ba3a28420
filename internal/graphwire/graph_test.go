package graphwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphwire/graphtest"
)

const (
	call57  = "57dab8b1-894c-409a-b240-bd8beae78896"
	call421 = "421f0b00-3c1e-4a5b-9a3e-5b1d2c8e7f60"
	call481 = "481f0b00-ffff-4ca1-8c67-a5f1e31c8e2a"
	op0fe   = "0fe0623f-d628-42ed-b4bd-8ac290072cc5"
	ccD45   = "d45324c1-fcb5-430a-902c-f20af696537c"
)

// wantResource is what one resourceData element of a callback must yield.
type wantResource struct {
	item          int  // index in "value"
	array         bool // resourceData was an array
	changeType    string
	changeTypeRaw string
	url           string // ResourceURL, when checked
	kind          Kind
	callID        string // from the URL, normalised
	pathOpID      string // from the URL, normalised
	pathIsOp      bool

	// Operations only.
	odataType string
	opID      string // resourceData.id, normalised; "" when null or absent
	status    string
	statusRaw string
	cc        string
	result    *ResultInfo
	reason    string
	extra     map[string]string // unknown fields that must be kept: name → compact JSON ("" = any value)

	// Non-operations: top-level fields of the resource, compact JSON.
	fields map[string]string
}

func playPromptCompleted() []wantResource {
	return []wantResource{{changeType: "deleted", changeTypeRaw: "deleted",
		url:  "/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0FE0623FD62842EDB4BD8AC290072CC5",
		kind: KindOperation, callID: call57, pathOpID: op0fe, pathIsOp: true,
		odataType: "#microsoft.graph.playPromptOperation", status: "completed", statusRaw: "completed", cc: ccD45,
		result: &ResultInfo{Code: 200, Subcode: 0, Message: "Action completed successfully."},
		extra: map[string]string{
			"@odata.id":   `"/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0FE0623FD62842EDB4BD8AC290072CC5"`,
			"@odata.etag": `"W/\"54451\""`,
		}}}
}

// notificationCases: every file of testdata/notifications and what it yields.
var notificationCases = map[string][]wantResource{
	"playprompt_completed_deleted.json": playPromptCompleted(),
	"record_failed_cancelled.json": {{changeType: "deleted", changeTypeRaw: "deleted", kind: KindOperation,
		callID: call57, pathOpID: "2e4c07b4-db4a-4d2c-9a1d-3f5e6b7c8d90", pathIsOp: true,
		odataType: "#microsoft.graph.recordOperation", status: "failed", statusRaw: "failed", cc: "rec-7f3a9c2e",
		result: &ResultInfo{Code: 400, Subcode: 8508, Message: "Action failed, the operation was cancelled."},
		reason: "operationCanceled",
		extra:  map[string]string{"@odata.id": "", "@odata.etag": "", "recordingLocation": "null", "recordingAccessToken": "null"}}},
	"changetype_updated_capitalised.json": {{changeType: "updated", changeTypeRaw: "Updated", kind: KindOperation,
		callID: call421, pathOpID: "9c4d2b11-7e8f-4a20-8b6c-1d2e3f405162", pathIsOp: true,
		odataType: "#microsoft.graph.subscribeToToneOperation", opID: "9c4d2b11-7e8f-4a20-8b6c-1d2e3f405162",
		status: "running", statusRaw: "running", cc: "tone-sub-421f0b00"}},
	"legacy_resource_app_calls.json": {{changeType: "deleted", changeTypeRaw: "deleted",
		url:  "/app/calls/421f0b00-3c1e-4a5b-9a3e-5b1d2c8e7f60/operations/5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
		kind: KindOperation, callID: call421, pathOpID: "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", pathIsOp: true,
		odataType: "#microsoft.graph.cancelMediaProcessingOperation", opID: "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
		status: "completed", statusRaw: "completed", cc: "cancel-1",
		result: &ResultInfo{Code: 200, Message: "Action completed successfully."}}},
	"resourceurl_no_leading_slash.json": {{changeType: "deleted", changeTypeRaw: "deleted",
		url:  "communications/calls/421f0b00-3c1e-4a5b-9a3e-5b1d2c8e7f60/operations/77e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6",
		kind: KindOperation, callID: call421, pathOpID: "77e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6", pathIsOp: true,
		odataType: "#microsoft.graph.sendDtmfTonesOperation", opID: "77e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6",
		status: "completed", statusRaw: "completed", cc: "dtmf-1", reason: "completedSuccessfully",
		result: &ResultInfo{Code: 200}}},
	"id_formats_mixed.json": {{changeType: "updated", changeTypeRaw: "updated", kind: KindOperation,
		callID: call421, pathOpID: "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e", pathIsOp: true,
		odataType: "#microsoft.graph.muteParticipantOperation", opID: "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
		status: "running", statusRaw: "running", cc: "mute-421f0b00"}},
	"participants_roster_array.json": {
		{array: true, changeType: "updated", changeTypeRaw: "updated", kind: KindParticipant, callID: call421,
			fields: map[string]string{"id": `"2b9f3c41-1e2d-4c5b-8a7f-6e5d4c3b2a10"`, "isMuted": "false"}},
		{array: true, changeType: "updated", changeTypeRaw: "updated", kind: KindParticipant, callID: call421,
			fields: map[string]string{"id": `"7c1a2b3d-4e5f-4a6b-9c8d-0e1f2a3b4c5d"`, "isMuted": "true"}},
	},
	"invite_null_id.json": {{changeType: "deleted", changeTypeRaw: "deleted",
		url:  "/communications/calls/481f0b00-ffff-4ca1-8c67-a5f1e31c8e2a/operations/participants",
		kind: KindOperation, callID: call481, pathOpID: "", pathIsOp: true,
		odataType: "#microsoft.graph.inviteParticipantsOperation", opID: "", status: "completed", statusRaw: "completed",
		cc: "f2fa86af-3c51-4bc2-8fc0-475452d9764f", result: &ResultInfo{Code: 200, Message: "Action completed successfully."},
		extra: map[string]string{"participants": ""}}},
	"call_toneinfo.json": {{changeType: "updated", changeTypeRaw: "updated", kind: KindCall, callID: call421,
		fields: map[string]string{"state": `"established"`,
			"toneInfo": `{"@odata.type":"#microsoft.graph.toneInfo","sequenceId":1,"tone":"tone1"}`}}},
	"participant_muted.json": {{changeType: "updated", changeTypeRaw: "updated", kind: KindParticipant, callID: call421,
		fields: map[string]string{"isMuted": "true"}}},
	"record_unknown_fields_kept.json": {{changeType: "deleted", changeTypeRaw: "deleted", kind: KindOperation,
		callID: call57, pathOpID: "3f4e5d6c-7b8a-49c0-ad1e-2f3a4b5c6d7e", pathIsOp: true,
		odataType: "#microsoft.graph.recordOperation", opID: "3f4e5d6c-7b8a-49c0-ad1e-2f3a4b5c6d7e",
		status: "completed", statusRaw: "completed", cc: "rec-ok-1", reason: "maxRecordDurationReached",
		result: &ResultInfo{Code: 200, Subcode: 8505, Message: "Action completed, max record duration reached."},
		extra: map[string]string{
			"createdDateTime":      `"2026-11-22T10:00:00.1234567Z"`,
			"lastActionDateTime":   `"2026-11-22T10:00:31.7654321Z"`,
			"recordingLocation":    `"https://resource.location/17f3e2a1-c5b8-4e2d-9a61-0f8d4c3b2a19"`,
			"recordingAccessToken": `"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln"`,
		}}},
	"unknown_operation_type.json": {{changeType: "updated", changeTypeRaw: "updated", kind: KindOperation,
		callID: call421, pathOpID: "c0ffee00-1234-4abc-8def-0123456789ab", pathIsOp: true,
		odataType: "#microsoft.graph.fooBarOperation", opID: "c0ffee00-1234-4abc-8def-0123456789ab",
		status: "notStarted", statusRaw: "notStarted", cc: "foobar-1",
		extra: map[string]string{"fooBarSettings": `{"level":3,"modes":["a","b"]}`}}},
	"multi_item_callback.json": {
		{item: 0, changeType: "updated", changeTypeRaw: "updated", kind: KindOperation, callID: call57, pathOpID: op0fe, pathIsOp: true,
			odataType: "#microsoft.graph.playPromptOperation", opID: op0fe, status: "running", statusRaw: "running", cc: ccD45},
		{item: 1, changeType: "deleted", changeTypeRaw: "deleted", kind: KindOperation, callID: call57, pathOpID: op0fe, pathIsOp: true,
			odataType: "#microsoft.graph.playPromptOperation", opID: op0fe, status: "completed", statusRaw: "completed", cc: ccD45,
			result: &ResultInfo{Code: 200, Message: "Action completed successfully."}},
		{item: 2, changeType: "updated", changeTypeRaw: "updated", kind: KindCall, callID: call57,
			fields: map[string]string{"toneInfo": `{"@odata.type":"#microsoft.graph.toneInfo","sequenceId":2,"tone":"tone5"}`}},
	},
	"resultinfo_numbers_as_strings.json": {{changeType: "deleted", changeTypeRaw: "deleted",
		url:  "/app/calls/57dab8b1-894c-409a-b240-bd8beae78896/operations/b2c3d4e5-0000-4000-8000-000000000002",
		kind: KindOperation, callID: call57, pathOpID: "b2c3d4e5-0000-4000-8000-000000000002", pathIsOp: true,
		odataType: "#microsoft.graph.recordOperation", opID: "b2c3d4e5-0000-4000-8000-000000000002",
		status: "failed", statusRaw: "failed", cc: "rec-1", reason: "operationCanceled",
		result: &ResultInfo{Code: 400, Subcode: 8508, Message: "Action failed, the operation was cancelled."}}},
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return buf.String()
}

// TestParseNotificationsTestdata parses every callback of testdata/notifications,
// one quirk of Graph's each (testdata/README.md), and checks what every resource yields.
func TestParseNotificationsTestdata(t *testing.T) {
	checkCovered(t, "notifications", notificationCases)
	for file, want := range notificationCases {
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			body := graphtest.Read(t, "notifications/"+file)
			n, err := ParseNotifications(body)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if n.ODataType != "" && n.ODataType != "#microsoft.graph.commsNotifications" {
				t.Errorf("ODataType = %q", n.ODataType)
			}
			var got []struct {
				item int
				n    Notification
				raw  json.RawMessage
			}
			for i, item := range n.Items {
				if !json.Valid(item.Raw) || item.Raw[0] != '{' {
					t.Errorf("item %d: Raw is not the item object: %s", i, item.Raw)
				}
				for _, r := range item.Resources {
					got = append(got, struct {
						item int
						n    Notification
						raw  json.RawMessage
					}{i, item, r})
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d resources, want %d", len(got), len(want))
			}
			for i, w := range want {
				checkResource(t, i, w, got[i].item, got[i].n, got[i].raw)
			}
		})
	}
}

func checkResource(t *testing.T, i int, w wantResource, item int, n Notification, raw json.RawMessage) {
	t.Helper()
	if item != w.item || n.ResourceDataIsArray != w.array {
		t.Errorf("resource %d: item %d array %v, want item %d array %v", i, item, n.ResourceDataIsArray, w.item, w.array)
	}
	if n.ChangeType != w.changeType || n.ChangeTypeRaw != w.changeTypeRaw {
		t.Errorf("resource %d: changeType %q (raw %q), want %q (raw %q)", i, n.ChangeType, n.ChangeTypeRaw, w.changeType, w.changeTypeRaw)
	}
	if w.url != "" && n.ResourceURL != w.url {
		t.Errorf("resource %d: ResourceURL %q, want %q", i, n.ResourceURL, w.url)
	}
	if want := (ResourcePath{CallID: w.callID, OperationID: w.pathOpID, IsOperation: w.pathIsOp}); n.Path != want {
		t.Errorf("resource %d: Path %+v, want %+v", i, n.Path, want)
	}
	if k := ResourceKind(resourceTypeOf(raw), n.Path); k != w.kind {
		t.Fatalf("resource %d: kind %q, want %q", i, k, w.kind)
	}
	if w.kind != KindOperation {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatalf("resource %d: %v", i, err)
		}
		for k, v := range w.fields {
			if got, ok := fields[k]; !ok || compactJSON(t, got) != v {
				t.Errorf("resource %d: field %s = %s, want %s", i, k, got, v)
			}
		}
		return
	}
	op, err := ParseOperation(raw)
	if err != nil {
		t.Fatalf("resource %d: ParseOperation: %v", i, err)
	}
	if op.ODataType != w.odataType || op.ID != w.opID || op.Status != w.status || op.StatusRaw != w.statusRaw ||
		op.ClientContext != w.cc || op.CompletionReason != w.reason {
		t.Errorf("resource %d: operation %+v\nwant type %q id %q status %q (%q) cc %q reason %q", i, op,
			w.odataType, w.opID, w.status, w.statusRaw, w.cc, w.reason)
	}
	switch {
	case (op.ResultInfo == nil) != (w.result == nil):
		t.Errorf("resource %d: resultInfo %+v, want %+v", i, op.ResultInfo, w.result)
	case w.result != nil && *op.ResultInfo != *w.result:
		t.Errorf("resource %d: resultInfo %+v, want %+v", i, *op.ResultInfo, *w.result)
	}
	for k, v := range w.extra {
		got, ok := op.Extra[k]
		if !ok {
			t.Errorf("resource %d: unknown field %s lost (Extra has %v)", i, k, slices.Sorted(mapKeys(op.Extra)))
		} else if v != "" && compactJSON(t, got) != v {
			t.Errorf("resource %d: Extra[%s] = %s, want %s", i, k, got, v)
		}
	}
	for _, named := range []string{"@odata.type", "id", "status", "clientContext", "resultInfo", "completionReason"} {
		if _, ok := op.Extra[named]; ok {
			t.Errorf("resource %d: named field %s also in Extra", i, named)
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// notificationRejections: every file of testdata/notifications_invalid, the
// sentinel it must be rejected with and what the message must name. stage
// "operation" files are well-formed callbacks holding an invalid operation:
// ParseNotifications keeps it as raw resourceData, and ParseOperation (as
// inbound.NotificationEvents, which the ingest calls) rejects it.
var notificationRejections = map[string]struct {
	stage string
	want  error
	names []string
}{
	"not_json.json":                        {"parse", evterr.ErrInvalidJSON, []string{"notifications", "invalid character"}},
	"truncated.json":                       {"parse", evterr.ErrInvalidJSON, []string{"notifications", "end of JSON"}},
	"array_top_level.json":                 {"parse", evterr.ErrInvalidJSON, []string{"notifications", "not a JSON object"}},
	"missing_value.json":                   {"parse", evterr.ErrInvalidPayload, []string{`"value"`}},
	"value_not_array.json":                 {"parse", evterr.ErrInvalidPayload, []string{`"value" is not an array`}},
	"item_not_object.json":                 {"parse", evterr.ErrInvalidPayload, []string{"value[0]", "not an object"}},
	"resourcedata_string.json":             {"parse", evterr.ErrInvalidPayload, []string{"value[0]", "resourceData"}},
	"resourcedata_array_of_strings.json":   {"parse", evterr.ErrInvalidPayload, []string{"value[0]", "resourceData[0]"}},
	"changetype_object.json":               {"parse", evterr.ErrInvalidPayload, []string{"value[0]", "changeType"}},
	"too_deep.json":                        {"parse", evterr.ErrTooDeep, []string{"notifications", fmt.Sprint(MaxJSONDepth)}},
	"operation_status_finished.json":       {"operation", evterr.ErrInvalidStatus, []string{`"status"`, "finished"}},
	"operation_clientcontext_257.json":     {"operation", evterr.ErrClientContextTooLong, []string{`"clientContext"`, "257"}},
	"operation_clientcontext_control.json": {"operation", evterr.ErrClientContextInvalid, []string{`"clientContext"`, "U+000D"}},
}

func TestParseNotificationsRejectsTestdata(t *testing.T) {
	checkCovered(t, "notifications_invalid", notificationRejections)
	for file, c := range notificationRejections {
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			body := graphtest.Read(t, "notifications_invalid/"+file)
			n, err := ParseNotifications(body)
			if c.stage == "parse" {
				if n != nil {
					t.Errorf("a result beside the error: %+v", n)
				}
				graphtest.CheckRejection(t, err, c.want, c.names...)
				return
			}
			if err != nil {
				t.Fatalf("the callback itself is well formed: %v", err)
			}
			_, err = ParseOperation(n.Items[0].Resources[0])
			graphtest.CheckRejection(t, err, c.want, c.names...)
		})
	}
}

func TestParseNotificationsInline(t *testing.T) {
	item := `{"changeType":"updated","resourceUrl":"/communications/calls/c1/participants","resourceData":{"@odata.type":"#microsoft.graph.participant"}}`
	items := func(n int) string { return `{"value":[` + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + `]}` }
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	valid := []struct {
		name, body string
		items      int
	}{
		{"empty value", `{"value":[]}`, 0},
		{"no resourceData", `{"value":[{"changeType":"deleted","resourceUrl":"/communications/calls/c1"}]}`, 1},
		{"null resourceData", `{"value":[{"resourceUrl":"/communications/calls/c1","resourceData":null}]}`, 1},
		{"empty array resourceData", `{"value":[{"resourceUrl":"/communications/calls/c1","resourceData":[]}]}`, 1},
		{"MaxItems items", items(MaxItems), MaxItems},
		{"depth exactly MaxJSONDepth", `{"value":[],"x":` + nest(MaxJSONDepth-1) + `}`, 0},
		{"brackets in strings do not nest", `{"value":[],"x":"` + nest(100) + `{{{\"\\"}`, 0},
		{"white space around", " \n\t" + `{"value":[]}` + "\r\n", 0},
		{"resourceUrl wins over resource", `{"value":[{"resourceUrl":"/communications/calls/a","resource":"/app/calls/b"}]}`, 1},
	}
	for _, c := range valid {
		t.Run(c.name, func(t *testing.T) {
			n, err := ParseNotifications([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(n.Items) != c.items {
				t.Fatalf("%d items, want %d", len(n.Items), c.items)
			}
		})
	}
	n, _ := ParseNotifications([]byte(`{"value":[{"resourceUrl":"/communications/calls/a","resource":"/app/calls/b"}]}`))
	if n.Items[0].ResourceURL != "/communications/calls/a" {
		t.Errorf("ResourceURL %q: resourceUrl must win over resource", n.Items[0].ResourceURL)
	}

	// A roster of MaxItems participants in one array fits; one more does not.
	roster := func(n int) string {
		return `{"value":[{"resourceUrl":"/communications/calls/c1/participants","resourceData":[` +
			strings.TrimSuffix(strings.Repeat(`{"@odata.type":"#microsoft.graph.participant"},`, n), ",") + `]}]}`
	}
	if _, err := ParseNotifications([]byte(roster(MaxItems))); err != nil {
		t.Errorf("roster of MaxItems: %v", err)
	}
	invalid := []struct {
		name, body string
		want       error
		names      []string
	}{
		{"empty body", ``, evterr.ErrInvalidJSON, []string{"notifications"}},
		{"null", `null`, evterr.ErrInvalidJSON, []string{"not a JSON object"}},
		{"string", `"value"`, evterr.ErrInvalidJSON, []string{"not a JSON object"}},
		{"null value", `{"value":null}`, evterr.ErrInvalidPayload, []string{`"value"`}},
		{"item null", `{"value":[null]}`, evterr.ErrInvalidPayload, []string{"value[0]"}},
		{"second item not an object", `{"value":[{},[]]}`, evterr.ErrInvalidPayload, []string{"value[1]"}},
		{"resourceData a number", `{"value":[{"resourceData":7}]}`, evterr.ErrInvalidPayload, []string{"resourceData"}},
		{"resourceData true", `{"value":[{"resourceData":true}]}`, evterr.ErrInvalidPayload, []string{"resourceData"}},
		{"resourceData nested array", `{"value":[{"resourceData":[[{}]]}]}`, evterr.ErrInvalidPayload, []string{"resourceData[0]"}},
		{"resourceUrl an object", `{"value":[{"resourceUrl":{"x":1}}]}`, evterr.ErrInvalidPayload, []string{"resourceUrl"}},
		{"resource an array", `{"value":[{"resource":["/app/calls/x"]}]}`, evterr.ErrInvalidPayload, []string{"resource"}},
		{"MaxItems+1 items", items(MaxItems + 1), evterr.ErrTooManyItems, []string{fmt.Sprint(MaxItems)}},
		{"roster of MaxItems+1", roster(MaxItems + 1), evterr.ErrTooManyItems, []string{fmt.Sprint(MaxItems)}},
		{"depth MaxJSONDepth+1", `{"value":[],"x":` + nest(MaxJSONDepth) + `}`, evterr.ErrTooDeep, []string{"deeper"}},
		{"trailing garbage", `{"value":[]} {}`, evterr.ErrInvalidJSON, []string{"notifications"}},
	}
	for _, c := range invalid {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseNotifications([]byte(c.body))
			graphtest.CheckRejection(t, err, c.want, c.names...)
		})
	}
}

func TestParseOperation(t *testing.T) {
	valid := []struct {
		name, body string
		want       Operation
	}{
		{"empty object", `{}`, Operation{}},
		{"status casing", `{"status":"RUNNING"}`, Operation{Status: "running", StatusRaw: "RUNNING"}},
		{"status Running", `{"status":"Running"}`, Operation{Status: "running", StatusRaw: "Running"}},
		{"status empty means absent", `{"status":""}`, Operation{}},
		{"status null", `{"status":null}`, Operation{}},
		{"id null", `{"id":null,"clientContext":"c"}`, Operation{ClientContext: "c"}},
		{"id uppercase dashless", `{"id":"0FE0623FD62842EDB4BD8AC290072CC5"}`, Operation{ID: op0fe}},
		{"id braces", `{"id":"{0FE0623F-D628-42ED-B4BD-8AC290072CC5}"}`, Operation{ID: op0fe}},
		{"id a number", `{"id":123}`, Operation{ID: "123"}},
		{"escaped strings", `{"clientContext":"a\"b\\c\u00e9","@odata.type":"#microsoft.graph.\u0070layPromptOperation"}`,
			Operation{ClientContext: `a"b\cé`, ODataType: "#microsoft.graph.playPromptOperation"}},
		{"resultInfo null", `{"resultInfo":null}`, Operation{}},
		{"resultInfo numbers as strings", `{"resultInfo":{"code":"400","subcode":" 8508 ","message":"m"}}`,
			Operation{ResultInfo: &ResultInfo{Code: 400, Subcode: 8508, Message: "m"}}},
		{"resultInfo empty strings and nulls", `{"resultInfo":{"code":"","subcode":null,"message":null}}`,
			Operation{ResultInfo: &ResultInfo{}}},
		{"resultInfo float code", `{"resultInfo":{"code":200.0,"subcode":0,"@odata.type":"#microsoft.graph.resultInfo","x":1}}`,
			Operation{ResultInfo: &ResultInfo{Code: 200}}},
		{"clientContext of 256 characters", `{"clientContext":"` + strings.Repeat("é", 256) + `"}`,
			Operation{ClientContext: strings.Repeat("é", 256)}},
		{"completionReason", `{"completionReason":"operationCanceled"}`, Operation{CompletionReason: "operationCanceled"}},
	}
	for _, c := range valid {
		t.Run(c.name, func(t *testing.T) {
			op, err := ParseOperation([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			ri, wri := op.ResultInfo, c.want.ResultInfo
			op.ResultInfo, c.want.ResultInfo = nil, nil
			if fmt.Sprint(*op) != fmt.Sprint(c.want) {
				t.Errorf("got %+v\nwant %+v", *op, c.want)
			}
			if (ri == nil) != (wri == nil) || ri != nil && *ri != *wri {
				t.Errorf("resultInfo %+v, want %+v", ri, wri)
			}
		})
	}
	op, err := ParseOperation([]byte(`{"status":"running","@odata.etag":"W/\"1\"","newThing":{"a":[1,2]},"n":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(op.Extra) != 3 || string(op.Extra["newThing"]) != `{"a":[1,2]}` || string(op.Extra["n"]) != "null" {
		t.Errorf("Extra = %v", op.Extra)
	}

	invalid := []struct {
		name, body string
		want       error
		names      []string
	}{
		{"not JSON", `{"status":`, evterr.ErrInvalidJSON, []string{"operation"}},
		{"array", `[{"status":"running"}]`, evterr.ErrInvalidJSON, []string{"operation", "not a JSON object"}},
		{"string", `"running"`, evterr.ErrInvalidJSON, []string{"not a JSON object"}},
		{"null", `null`, evterr.ErrInvalidJSON, []string{"not a JSON object"}},
		{"status finished", `{"status":"finished"}`, evterr.ErrInvalidStatus, []string{`"status"`, "finished"}},
		{"status a number", `{"status":2}`, evterr.ErrInvalidStatus, []string{`"status"`}},
		{"status an object", `{"status":{"v":"running"}}`, evterr.ErrInvalidPayload, []string{`"status"`}},
		{"id an array", `{"id":["1"]}`, evterr.ErrInvalidPayload, []string{`"id"`}},
		{"@odata.type an object", `{"@odata.type":{}}`, evterr.ErrInvalidPayload, []string{`"@odata.type"`}},
		{"completionReason an array", `{"completionReason":[]}`, evterr.ErrInvalidPayload, []string{`"completionReason"`}},
		{"clientContext an object", `{"clientContext":{}}`, evterr.ErrInvalidPayload, []string{`"clientContext"`}},
		{"clientContext 257 characters", `{"clientContext":"` + strings.Repeat("x", 257) + `"}`, evterr.ErrClientContextTooLong,
			[]string{`"clientContext"`, "257", "256"}},
		{"clientContext BEL", `{"clientContext":"a\u0007"}`, evterr.ErrClientContextInvalid, []string{`"clientContext"`, "U+0007"}},
		{"clientContext NEL (C1)", `{"clientContext":"a\u0085"}`, evterr.ErrClientContextInvalid, []string{`"clientContext"`, "U+0085"}},
		{"clientContext DEL", `{"clientContext":"\u007f"}`, evterr.ErrClientContextInvalid, []string{`"clientContext"`}},
		{"resultInfo an array", `{"resultInfo":[200]}`, evterr.ErrInvalidPayload, []string{`"resultInfo"`}},
		{"resultInfo a string", `{"resultInfo":"200"}`, evterr.ErrInvalidPayload, []string{`"resultInfo"`}},
		{"resultInfo code not a number", `{"resultInfo":{"code":"ok"}}`, evterr.ErrInvalidPayload, []string{"resultInfo.code"}},
		{"resultInfo code a bool", `{"resultInfo":{"code":true}}`, evterr.ErrInvalidPayload, []string{"resultInfo.code"}},
		{"resultInfo subcode out of range", `{"resultInfo":{"code":200,"subcode":1e19}}`, evterr.ErrInvalidPayload, []string{"resultInfo.subcode"}},
		{"resultInfo code string out of range", `{"resultInfo":{"code":"99999999999"}}`, evterr.ErrInvalidPayload, []string{"resultInfo.code"}},
		{"resultInfo message a number", `{"resultInfo":{"message":5}}`, evterr.ErrInvalidPayload, []string{"resultInfo"}},
		{"too deep", `{"x":` + strings.Repeat(`{"a":`, MaxJSONDepth) + `1` + strings.Repeat(`}`, MaxJSONDepth) + `}`, evterr.ErrTooDeep, []string{"operation"}},
	}
	for _, c := range invalid {
		t.Run(c.name, func(t *testing.T) {
			op, err := ParseOperation([]byte(c.body))
			if op != nil {
				t.Errorf("a result beside the error: %+v", op)
			}
			graphtest.CheckRejection(t, err, c.want, c.names...)
		})
	}
}

func TestResourceKind(t *testing.T) {
	opPath := ParseResourcePath("/communications/calls/c1/operations/0FE0623FD62842EDB4BD8AC290072CC5")
	callPath := ParseResourcePath("/communications/calls/c1")
	cases := []struct {
		odataType string
		path      ResourcePath
		want      Kind
	}{
		{"#microsoft.graph.playPromptOperation", callPath, KindOperation},
		{"#microsoft.graph.recordOperation", opPath, KindOperation},
		{"#microsoft.graph.fooBarOperation", callPath, KindOperation},
		{"#Microsoft.Graph.InviteParticipantsOperation", callPath, KindOperation},
		{"microsoft.graph.muteParticipantOperation", callPath, KindOperation},
		{" #microsoft.graph.commsOperation ", callPath, KindOperation},
		{"#microsoft.graph.call", callPath, KindCall},
		{"#microsoft.graph.call", opPath, KindCall},
		{"#MICROSOFT.GRAPH.CALL", callPath, KindCall},
		{"#microsoft.graph.participant", callPath, KindParticipant},
		{"#microsoft.graph.Participant", opPath, KindParticipant},
		{"", opPath, KindOperation},
		{"", ParseResourcePath("/communications/calls/c1/operations/participants"), KindOperation},
		{"", callPath, KindOther},
		{"", ResourcePath{}, KindOther},
		{"#microsoft.graph.audioRoutingGroup", callPath, KindOther},
		{"#microsoft.graph.callRecord", callPath, KindOther},
		{"#microsoft.graph.participantJoiningNotification", callPath, KindOther},
		{"#microsoft.graph.callTranscript", opPath, KindOther},
	}
	for _, c := range cases {
		t.Run(c.odataType+"@"+fmt.Sprint(c.path.IsOperation), func(t *testing.T) {
			if got := ResourceKind(c.odataType, c.path); got != c.want {
				t.Errorf("ResourceKind(%q, %+v) = %q, want %q", c.odataType, c.path, got, c.want)
			}
		})
	}
}

func TestResourceType(t *testing.T) {
	cases := map[string]string{
		`{"@odata.type":"#microsoft.graph.call"}`: "#microsoft.graph.call",
		`{"@odata.type":null}`:                    "",
		`{}`:                                      "",
		`{"@odata.type":{"x":1}}`:                 "",
		`[1]`:                                     "",
		`not json`:                                "",
		`{"@odata.type":"#a\u002eb","x":[1,2,3]} `: "#a.b",
	}
	for in, want := range cases {
		if got := resourceTypeOf(json.RawMessage(in)); got != want {
			t.Errorf("resourceTypeOf(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestParseOperationNotification(t *testing.T) {
	const url = `"resourceUrl":"/communications/calls/c1/operations/0FE0623FD62842EDB4BD8AC290072CC5"`
	cases := []struct {
		name, data string
		wantOp     bool
		wantErr    error
	}{
		{"operation", `{` + url + `,"resourceData":{"id":"op1","status":"completed","clientContext":"cc"}}`, true, nil},
		{"no resource", `{` + url + `}`, false, nil},
		{"bad status", `{` + url + `,"resourceData":{"status":"finished"}}`, false, evterr.ErrInvalidStatus},
		{"not JSON", `{` + url, false, evterr.ErrInvalidJSON},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, op, err := ParseOperationNotification([]byte(c.data))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil || n.Path.CallID != "c1" || (op != nil) != c.wantOp {
				t.Fatalf("n=%+v op=%+v err=%v", n, op, err)
			}
			if op != nil && (op.Status != "completed" || op.ClientContext != "cc") {
				t.Fatalf("op = %+v", op)
			}
		})
	}
}

// TestResourceIDs: ResourceIDs reads an operation's id and clientContext as
// ParseResource does and refuses what it refuses, with the same error.
func TestResourceIDs(t *testing.T) {
	for _, tc := range []string{
		`{"@odata.type":"#microsoft.graph.playPromptOperation","id":"OP-1","status":"running","clientContext":"cc","@odata.etag":"W/\"1\""}`,
		`{"id":null,"clientContext":null}`,
		`{}`,
		`{"status":"bogus"}`,
		`{"clientContext":"a\u0007b"}`,
		`{"clientContext":"a","ClientContext":"b"}`,
		`{"id":"1","id":"2"}`,
		`{"id":{}}`,
		`{"resultInfo":{"code":"x"}}`,
		`[]`,
	} {
		id, cc, err := ResourceIDs([]byte(tc))
		op, opErr := ParseResource([]byte(tc))
		switch {
		case (err == nil) != (opErr == nil) || err != nil && err.Error() != opErr.Error():
			t.Errorf("%s: ResourceIDs %v, ParseResource %v", tc, err, opErr)
		case err == nil && (id != op.ID || cc != op.ClientContext):
			t.Errorf("%s: ResourceIDs %q %q, ParseResource %q %q", tc, id, cc, op.ID, op.ClientContext)
		}
	}
}
