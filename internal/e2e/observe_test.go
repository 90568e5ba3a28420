package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestTraceContextAndMetrics: the W3C traceparent of the HTTP request that
// brought the deciding evidence is set on the resolved event; the resolver's
// counters say what happened.
func TestTraceContextAndMetrics(t *testing.T) {
	p := startPipeline(t)
	reg := prometheus.NewRegistry()
	cfg := resolverDefaults()
	cfg.Registerer = reg
	p.startWorker("w1", cfg)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const id = "0fe0623f-d628-42ed-b4bd-8ac290072cc5"
	if code := p.post("/v1/notifications", notification(op{typ: "playPromptOperation", id: id, cc: "traced", status: "completed", code: 200}), "traceparent", tp); code != 202 {
		t.Fatalf("post: %d", code)
	}
	p.mustPost("/v1/responses", response("playPrompt", op{typ: "playPromptOperation", id: id, cc: "traced", status: "running"}, 200))
	evs := p.out.waitFor(t, 10*time.Second, "event", func(evs []resolvedEvent) bool { return len(evs) >= 1 })
	if evs[0].Trace != tp {
		t.Fatalf("traceparent %q, want %q", evs[0].Trace, tp)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(gather(t, reg), "commsops_resolver_races_total 1") {
		if time.Now().After(deadline) {
			t.Fatalf("race not counted:\n%s", gather(t, reg))
		}
		time.Sleep(50 * time.Millisecond)
	}
	text := gather(t, reg)
	for _, want := range []string{
		`commsops_resolver_events_total{status="completed"} 1`,
		`commsops_resolver_messages_total{outcome="applied"} 2`,
		`commsops_resolver_resolve_seconds_count 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
}

func gather(t *testing.T, reg *prometheus.Registry) string {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			b.WriteString(mf.GetName())
			if len(m.GetLabel()) > 0 {
				b.WriteString("{")
				for i, l := range m.GetLabel() {
					if i > 0 {
						b.WriteString(",")
					}
					b.WriteString(l.GetName() + `="` + l.GetValue() + `"`)
				}
				b.WriteString("}")
			}
			switch {
			case m.GetCounter() != nil:
				b.WriteString(" " + trimFloat(m.GetCounter().GetValue()))
			case m.GetGauge() != nil:
				b.WriteString(" " + trimFloat(m.GetGauge().GetValue()))
			case m.GetHistogram() != nil:
				b.WriteString("_count " + trimFloat(float64(m.GetHistogram().GetSampleCount())))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func trimFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
