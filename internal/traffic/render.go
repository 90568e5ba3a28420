package traffic

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
)

// UpperNoDash renders a GUID as Graph puts it in resource URLs.
func UpperNoDash(id string) string { return strings.ToUpper(strings.ReplaceAll(id, "-", "")) }

// call returns the operation's call id (CallID when not set).
func (o *Operation) call() string {
	if o.Call == "" {
		return CallID
	}
	return o.Call
}

// resource is the operation resource as Graph renders it.
func (e Evidence) resource() map[string]any {
	r := map[string]any{
		"@odata.type":   "#microsoft.graph." + e.Op.Type,
		"@odata.etag":   `W/"` + strconv.Itoa(e.ETag) + `"`,
		"id":            e.Op.ID,
		"clientContext": e.Op.CC,
		"status":        e.Status,
	}
	if e.NullID {
		r["id"] = nil
	}
	switch e.Status {
	case "completed":
		r["resultInfo"] = map[string]any{"@odata.type": "#microsoft.graph.resultInfo", "code": 200, "subcode": 8510,
			"message": "Action completed successfully."}
	case "failed":
		r["resultInfo"] = map[string]any{"@odata.type": "#microsoft.graph.resultInfo", "code": 400, "subcode": 8506,
			"message": "Action failed."}
	}
	return r
}

// Body renders the evidence as the HTTP request the ingest receives: the
// route and the body.
func (e Evidence) Body() (route string, body []byte) {
	if e.Response {
		httpStatus, op := 200, any(e.resource())
		if e.Status == "" {
			httpStatus, op = 202, nil // a null operation
		}
		body, _ = json.Marshal(map[string]any{"callId": e.Op.call(), "action": e.Op.Action, "clientContext": e.Op.CC,
			"httpStatus": httpStatus, "operation": op, "sentAt": "2026-11-22T10:00:00.000Z"})
		return "/v1/responses", body
	}
	opPath := UpperNoDash(e.Op.ID)
	if e.NullID {
		opPath = "participants"
	}
	changeType := "updated"
	if e.Status == "completed" || e.Status == "failed" {
		changeType = "deleted"
	}
	body, _ = json.Marshal(map[string]any{"@odata.type": "#microsoft.graph.commsNotifications", "value": []any{map[string]any{
		"@odata.type":  "#microsoft.graph.commsNotification",
		"changeType":   changeType,
		"resourceUrl":  "/communications/calls/" + UpperNoDash(e.Op.call()) + "/operations/" + opPath,
		"resourceData": e.resource()}}})
	return "/v1/notifications", body
}

// Inbound returns the events the ingest stores for the evidence, parsed and
// split by pkg/events exactly as the ingest does.
func (e Evidence) Inbound() ([]inbound.Inbound, error) {
	route, b := e.Body()
	if route == "/v1/responses" {
		p, err := graphwire.ParseActionResponse(b)
		if err != nil {
			return nil, err
		}
		in, err := inbound.ResponseEvent(p, b, inbound.Options{})
		return []inbound.Inbound{in}, err
	}
	n, err := graphwire.ParseNotifications(b)
	if err != nil {
		return nil, err
	}
	return inbound.NotificationEvents(n, inbound.Options{})
}

// Inbounds returns the events the ingest stores for every piece of evidence,
// in order.
func Inbounds(seq []Evidence) ([]inbound.Inbound, error) {
	out := make([]inbound.Inbound, 0, len(seq))
	for _, e := range seq {
		in, err := e.Inbound()
		if err != nil {
			return nil, fmt.Errorf("traffic: render evidence: %w", err)
		}
		out = append(out, in...)
	}
	return out, nil
}
