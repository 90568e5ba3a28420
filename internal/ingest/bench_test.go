package ingest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkNotification is the handler's work per callback of one operation
// resource, stored in a real embedded JetStream: parse, split into events,
// encode, publish and wait for the ack, answer. Each body is distinct, so
// nothing is deduplicated.
func BenchmarkNotification(b *testing.B) {
	h := newEnvWith(b, Options{}, envConfig{}).h
	const tmpl = `{"@odata.type":"#microsoft.graph.commsNotifications","value":[{"@odata.type":"#microsoft.graph.commsNotification","changeType":"updated","resourceUrl":"/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0fe0623f-d628-42ed-b4bd-8ac290072cc5","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5","status":"running","clientContext":"cc-%d","@odata.etag":"W/\"1\""}}]}`
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req := httptest.NewRequest(http.MethodPost, "/v1/notifications", strings.NewReader(fmt.Sprintf(tmpl, i)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Microsoft-Skype-Message-ID", "m")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
