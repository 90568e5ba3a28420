package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/commsops/commsops/internal/traffic"
)

// generateTraffic returns o.Ops operations and their evidence, shaped by o's
// shares (internal/traffic, as the end-to-end tests generate it, without
// terminal action responses: every operation here has 2 or 3 pieces of
// evidence). The same seed gives the same traffic.
func generateTraffic(o Options, seed uint64) ([]*traffic.Operation, []traffic.Evidence) {
	return traffic.Generate(rand.New(rand.NewPCG(seed, 0x6f7073)), o.Ops,
		traffic.Shares{Race: o.RaceShare, Duplicates: o.DupShare, SharedCC: o.SharedCC})
}

// notificationBody renders a one-resource operation callback cheaply, for
// the load generators (a distinct operation per request, so the stream's
// duplicate window never absorbs one).
func notificationBody(buf []byte, opID, cc, status string) []byte {
	buf = append(buf[:0], `{"@odata.type":"#microsoft.graph.commsNotifications","value":[{"@odata.type":"#microsoft.graph.commsNotification","changeType":"updated","resourceUrl":"/communications/calls/`...)
	buf = append(buf, traffic.UpperNoDash(traffic.CallID)...)
	buf = append(buf, "/operations/"...)
	buf = append(buf, traffic.UpperNoDash(opID)...)
	buf = append(buf, `","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","@odata.etag":"W/\"1\"","id":"`...)
	buf = append(buf, opID...)
	buf = append(buf, `","clientContext":"`...)
	buf = append(buf, cc...)
	buf = append(buf, `","status":"`...)
	buf = append(buf, status...)
	buf = append(buf, `"}}]}`...)
	return buf
}

// responseBody renders an action response with a running playPrompt operation.
func responseBody(buf []byte, opID, cc string) []byte {
	buf = append(buf[:0], `{"callId":"`...)
	buf = append(buf, traffic.CallID...)
	buf = append(buf, `","action":"playPrompt","clientContext":"`...)
	buf = append(buf, cc...)
	buf = append(buf, `","httpStatus":200,"operation":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"`...)
	buf = append(buf, opID...)
	buf = append(buf, `","status":"running","clientContext":"`...)
	buf = append(buf, cc...)
	buf = append(buf, `"},"sentAt":"2026-11-22T10:00:00.000Z"}`...)
	return buf
}

// completionBody renders the completion notification of a playPrompt operation.
func completionBody(buf []byte, opID, cc string) []byte {
	buf = append(buf[:0], `{"@odata.type":"#microsoft.graph.commsNotifications","value":[{"@odata.type":"#microsoft.graph.commsNotification","changeType":"deleted","resourceUrl":"/communications/calls/`...)
	buf = append(buf, traffic.UpperNoDash(traffic.CallID)...)
	buf = append(buf, "/operations/"...)
	buf = append(buf, traffic.UpperNoDash(opID)...)
	buf = append(buf, `","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"`...)
	buf = append(buf, opID...)
	buf = append(buf, `","clientContext":"`...)
	buf = append(buf, cc...)
	buf = append(buf, `","status":"completed","resultInfo":{"@odata.type":"#microsoft.graph.resultInfo","code":200,"subcode":8510,"message":"Action completed successfully."}}}]}`...)
	return buf
}

// opID returns a distinct operation id for n, in Graph's GUID shape.
func opID(prefix uint32, n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", prefix, n)
}
