package resolver

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/commsops/commsops/pkg/events"
)

// TestCachedCountersMatchLabels: the cached children count into the series
// WithLabelValues names, made on first use only, and a label value outside
// the cache still counts.
func TestCachedCountersMatchLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.message(outcomeApplied)
	m.message(outcomeApplied)
	m.message(outcomeDuplicate)
	m.emittedEvent(events.StatusNotStarted)
	m.emittedEvent(events.StatusNotStarted)
	m.emittedEvent(events.StatusStalled)
	m.emittedEvent(events.Status("Other"))

	cases := []struct {
		name string
		ctr  prometheus.Counter
		want float64
	}{
		{"applied", m.messages.WithLabelValues("applied"), 2},
		{"duplicate", m.messages.WithLabelValues("duplicate"), 1},
		{"notstarted", m.emitted.WithLabelValues("notstarted"), 2},
		{"stalled", m.emitted.WithLabelValues("stalled"), 1},
		{"other", m.emitted.WithLabelValues("other"), 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d dto.Metric
			if err := c.ctr.Write(&d); err != nil {
				t.Fatal(err)
			}
			if got := d.GetCounter().GetValue(); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
	// Only the series counted above (now also fetched by the cases) exist.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	if n := series["commsops_resolver_messages_total"]; n != 2 {
		t.Fatalf("%d message series, want 2", n)
	}
	if n := series["commsops_resolver_events_total"]; n != 3 {
		t.Fatalf("%d emitted series, want 3", n)
	}
}
