// Package tracing sets up OpenTelemetry for a commsops process when an OTLP
// exporter is configured (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, with the exporter's standard variables),
// and leaves the no-op tracer in place when not: then spans cost nothing and
// trace context is still carried through the events as W3C traceparent.
package tracing

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracer is the tracer commsops' packages use.
func Tracer() trace.Tracer { return otel.Tracer("github.com/commsops/commsops") }

// Setup installs an OTLP/HTTP exporter and the W3C propagator when an
// endpoint is configured, and returns whether it did and the function that
// flushes and stops it (a no-op otherwise).
func Setup(ctx context.Context, service string) (bool, func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return false, func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))))
	otel.SetTracerProvider(tp)
	return true, tp.Shutdown, nil
}

// FromTraceParent returns ctx carrying the remote span context of a W3C
// traceparent value ("" leaves ctx as it is).
func FromTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// TraceParent returns the W3C traceparent of the span in ctx, or fallback when
// ctx holds no valid span context.
func TraceParent(ctx context.Context, fallback string) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return fallback
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	if tp := c["traceparent"]; tp != "" {
		return tp
	}
	return fallback
}
