package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestOpenTelemetrySpans: with an exporter configured, the ingest request and
// the resolution get spans in the caller's trace, and the resolved event's
// traceparent points at the resolve span.
func TestOpenTelemetrySpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	p := startPipeline(t)
	p.startWorker("w1", resolverDefaults())
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	tp0 := "00-" + traceID + "-00f067aa0ba902b7-01"
	if code := p.post("/v1/notifications", notification(op{typ: "playPromptOperation", id: "0fe0623f-d628-42ed-b4bd-8ac290072cc5", cc: "otel", status: "completed"}), "traceparent", tp0); code != 202 {
		t.Fatalf("post: %d", code)
	}
	evs := p.out.waitFor(t, 10*time.Second, "event", func(evs []resolvedEvent) bool { return len(evs) == 1 })
	deadline := time.Now().Add(5 * time.Second)
	var ingestSpan, resolveSpan sdktrace.ReadOnlySpan
	for (ingestSpan == nil || resolveSpan == nil) && time.Now().Before(deadline) {
		for _, s := range exp.GetSpans().Snapshots() {
			switch s.Name() {
			case "ingest notifications":
				ingestSpan = s
			case "resolve":
				resolveSpan = s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ingestSpan == nil || resolveSpan == nil {
		t.Fatalf("spans: %v", exp.GetSpans())
	}
	if ingestSpan.SpanContext().TraceID().String() != traceID || ingestSpan.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("ingest span not in the caller's trace: %v parent %v", ingestSpan.SpanContext().TraceID(), ingestSpan.Parent().SpanID())
	}
	if resolveSpan.SpanContext().TraceID().String() != traceID || resolveSpan.Parent().SpanID() != ingestSpan.SpanContext().SpanID() {
		t.Errorf("resolve span is not the ingest span's child")
	}
	if want := resolveSpan.SpanContext().SpanID().String(); !strings.Contains(evs[0].Trace, traceID) || !strings.Contains(evs[0].Trace, want) {
		t.Errorf("resolved event traceparent %q does not point at the resolve span %s", evs[0].Trace, want)
	}
}
