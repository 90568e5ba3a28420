package ingest

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests     *prometheus.CounterVec
	storeSeconds prometheus.Histogram
	events       *prometheus.CounterVec
	eventsByType *eventCounters
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commsops_ingest_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		storeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "commsops_ingest_store_seconds", Help: "Time to store a request's events in JetStream.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commsops_ingest_events_total", Help: "Events stored in COMMS_IN by CloudEvents type.",
		}, []string{"type"}),
	}
	m.eventsByType = &eventCounters{vec: m.events}
	reg.MustRegister(m.requests, m.storeSeconds, m.events)
	return m
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (h *Handler) instrument(route string, next http.HandlerFunc) http.HandlerFunc {
	requests := &routeCounters{vec: h.m.requests, route: route}
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next(rec, r)
		requests.inc(rec.status)
		if h.opts.Log.Enabled(r.Context(), slog.LevelDebug) { // spares boxing the fields
			h.opts.Log.Debug("request served", "route", route, "code", rec.status, "duration", time.Since(start))
		}
	}
}
