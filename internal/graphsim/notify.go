package graphsim

import (
	"strconv"
	"strings"
)

// Graph's @odata.type values of a callback.
const (
	typeNotifications = "#microsoft.graph.commsNotifications"
	typeNotification  = "#microsoft.graph.commsNotification"
	typeCall          = "#microsoft.graph.call"
	typeResultInfo    = "#microsoft.graph.resultInfo"
)

// itemFaults are the per-callback faults that shape one notification item.
type itemFaults struct {
	casing, array, deleted bool
}

// changeType returns "updated", or "deleted" when deleted holds, capitalised
// under the casing fault.
func (f itemFaults) changeType(deleted bool) string {
	ct := "updated"
	if deleted {
		ct = "deleted"
	}
	if f.casing {
		ct = strings.ToUpper(ct[:1]) + ct[1:]
	}
	return ct
}

// notificationItem returns one commsNotification item; resourceData is an
// array of the resource under the array fault.
func notificationItem(changeType, resourceURL string, resource map[string]any, f itemFaults) map[string]any {
	var data any = resource
	if f.array {
		data = []any{resource}
	}
	return map[string]any{
		"@odata.type":  typeNotification,
		"changeType":   changeType,
		"resourceUrl":  resourceURL,
		"resourceData": data,
	}
}

// notificationBody returns a commsNotifications callback of items.
func notificationBody(items []map[string]any) map[string]any {
	return map[string]any{"@odata.type": typeNotifications, "value": items}
}

// callURL returns the resourceUrl of a call, ids as Graph writes them.
func callURL(callID string) string {
	return "/communications/calls/" + graphPathID(callID)
}

// operationItem returns the notification item of op at status, with its
// final fields when final. The caller holds the call's lock.
func operationItem(c *call, op *operation, status string, final bool, nullID bool, f itemFaults) map[string]any {
	url := callURL(c.id) + "/operations/" + graphPathID(op.id)
	res := map[string]any{
		"@odata.type":   op.odataType,
		"@odata.etag":   `W/"` + strconv.Itoa(len(c.deliveries)+1) + `"`,
		"clientContext": op.clientContext,
		"status":        status,
		"id":            op.id,
	}
	switch {
	case nullID:
		res["id"] = nil
		url = callURL(c.id) + "/operations"
		if op.action == "participants/invite" {
			url += "/participants"
		}
	case f.casing:
		res["id"] = graphPathID(op.id)
	}
	if !nullID {
		res["@odata.id"] = url
	}
	if f.casing {
		res["status"] = strings.ToUpper(status[:1]) + status[1:]
	}
	if final {
		if op.resultInfo != nil {
			res["resultInfo"] = map[string]any{"@odata.type": typeResultInfo, "code": op.resultInfo.Code,
				"subcode": op.resultInfo.Subcode, "message": op.resultInfo.Message}
		}
		if op.cancelled {
			res["completionReason"] = "operationCanceled"
		} else {
			for k, v := range op.spec.finalExtra {
				res[k] = v
			}
		}
	}
	item := notificationItem(f.changeType(final && f.deleted), url, res, f)
	if op.action == "participants/invite" { // as Graph's invite notifications: the older resource field too
		item["resource"] = strings.Replace(url, "/communications/calls/", "/app/calls/", 1)
	}
	return item
}

// callStateItem returns the notification item of a call state; a terminated
// call is notified with changeType deleted, as Graph does.
func callStateItem(c *call, state string, ri *ResultInfo, f itemFaults) map[string]any {
	res := map[string]any{
		"@odata.type": typeCall,
		"state":       state,
		"callChainId": c.chainID,
	}
	if ri != nil {
		res["resultInfo"] = map[string]any{"@odata.type": typeResultInfo, "code": ri.Code, "subcode": ri.Subcode, "message": ri.Message}
	}
	return notificationItem(f.changeType(state == "terminated"), callURL(c.id), res, f)
}
