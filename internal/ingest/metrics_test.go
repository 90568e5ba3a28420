package ingest

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/commsops/commsops/internal/inbound"
)

// TestMetricsCount: requests are counted by route and code, stored events
// by type, each in its own series, and a series appears only once used.
func TestMetricsCount(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, Options{Registry: reg})
	for _, tc := range []struct {
		route, body string
		want        int
	}{
		{"/v1/notifications", callback(2, "cc-1"), http.StatusAccepted},
		{"/v1/notifications", callback(1, "cc-2"), http.StatusAccepted},
		{"/v1/notifications", `{"value":`, http.StatusBadRequest},
		{"/v1/responses", `{"callId":"c","action":"playPrompt","clientContext":"cc","httpStatus":202,"operation":null}`, http.StatusAccepted},
	} {
		if rec := e.post(tc.route, tc.body); rec.Code != tc.want {
			t.Fatalf("%s %s: %d %s, want %d", tc.route, tc.body, rec.Code, rec.Body, tc.want)
		}
	}
	got := counts(t, reg)
	want := map[string]float64{
		`commsops_ingest_requests_total{code="202",route="/v1/notifications"}`:           2,
		`commsops_ingest_requests_total{code="400",route="/v1/notifications"}`:           1,
		`commsops_ingest_requests_total{code="202",route="/v1/responses"}`:               1,
		`commsops_ingest_events_total{type="` + inbound.TypeOperationNotification + `"}`: 3,
		`commsops_ingest_events_total{type="` + inbound.TypeActionResponse + `"}`:        1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %s = %v", k, v)
		}
	}
}

// counts returns every counter of the ingest's requests and events in reg,
// named name{label="value",...} with labels sorted.
func counts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "commsops_ingest_requests_total" && mf.GetName() != "commsops_ingest_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[seriesName(mf.GetName(), m.GetLabel())] = m.GetCounter().GetValue()
		}
	}
	return out
}

func seriesName(name string, labels []*dto.LabelPair) string {
	s := name + "{"
	for i, l := range labels { // Gather sorts them by name
		if i > 0 {
			s += ","
		}
		s += l.GetName() + `="` + l.GetValue() + `"`
	}
	return s + "}"
}
