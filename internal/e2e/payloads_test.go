package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/commsops/commsops/internal/traffic"
)

// callID is the call of the hand-written payloads, the generated traffic's.
const callID = traffic.CallID

type op struct {
	typ, id, cc, status string
	code, subcode       int
	reason              string
	callID              string
}

func (o op) resource() map[string]any {
	r := map[string]any{
		"@odata.type":   "#microsoft.graph." + o.typ,
		"clientContext": o.cc,
		"status":        o.status,
	}
	if o.id == "null" {
		r["id"] = nil
	} else if o.id != "" {
		r["id"] = o.id
	}
	if o.code != 0 {
		r["resultInfo"] = map[string]any{"@odata.type": "#microsoft.graph.resultInfo", "code": o.code, "subcode": o.subcode, "message": "msg"}
	}
	if o.reason != "" {
		r["completionReason"] = o.reason
	}
	return r
}

func (o op) call() string {
	if o.callID != "" {
		return o.callID
	}
	return callID
}

// notification is a Graph callback with one operation item, the operation id
// in the URL in Graph's upper-case dash-less form.
func notification(o op) map[string]any {
	changeType := "updated"
	if o.status == "completed" || o.status == "failed" {
		changeType = "deleted"
	}
	urlID := "participants"
	if o.id != "" && o.id != "null" {
		urlID = traffic.UpperNoDash(o.id)
	}
	return map[string]any{
		"@odata.type": "#microsoft.graph.commsNotifications",
		"value": []any{map[string]any{
			"@odata.type":  "#microsoft.graph.commsNotification",
			"changeType":   changeType,
			"resourceUrl":  fmt.Sprintf("/communications/calls/%s/operations/%s", traffic.UpperNoDash(o.call()), urlID),
			"resourceData": o.resource(),
		}},
	}
}

// response is an action-response envelope; status "" gives a null operation.
func response(action string, o op, httpStatus int) map[string]any {
	r := map[string]any{
		"callId":        o.call(),
		"action":        action,
		"clientContext": o.cc,
		"httpStatus":    httpStatus,
		"operation":     nil,
		"sentAt":        "2026-11-22T10:00:00.000Z",
	}
	if o.status != "" {
		r["operation"] = o.resource()
	}
	return r
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("testdata/%s is not JSON", name)
	}
	return b
}
