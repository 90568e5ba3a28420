package inbound

import (
	"fmt"
	"testing"

	"github.com/commsops/commsops/internal/graphwire"
)

// BenchmarkIngestPath is the ingest's CPU work per callback beyond a bare
// store: parse, validate, split into CloudEvents, encode for NATS.
func BenchmarkIngestPath(b *testing.B) {
	body := []byte(fmt.Sprintf(`{"@odata.type":"#microsoft.graph.commsNotifications","value":[{"@odata.type":"#microsoft.graph.commsNotification","changeType":"updated","resourceUrl":"/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0fe0623f-d628-42ed-b4bd-8ac290072cc5","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5","status":"running","clientContext":"cc-%d","@odata.etag":"W/\"1\""}}]}`, 1))
	b.ReportAllocs()
	for b.Loop() {
		n, err := graphwire.ParseNotifications(body)
		if err != nil {
			b.Fatal(err)
		}
		ins, err := NotificationEvents(n, Options{MessageID: "m"})
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range ins {
			if _, err := in.msg(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
