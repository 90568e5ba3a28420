package forwarder

import "github.com/prometheus/client_golang/prometheus"

// metrics of one forwarder. Registered on Config.Registerer when set.
type metrics struct {
	delivered    prometheus.Counter
	retried      *prometheus.CounterVec
	deadLettered prometheus.Counter
	latency      *prometheus.HistogramVec
	lag          prometheus.Gauge
	held         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commsops_forwarder_delivered_total", Help: "Events the sink accepted (2xx) and that were acked.",
		}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commsops_forwarder_retried_total",
			Help: "Failed deliveries nak'd for a retry, by reason: retry_after (429/503 with Retry-After), status (another answer), timeout, error (no answer).",
		}, []string{"reason"}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commsops_forwarder_deadlettered_total", Help: "Events copied to COMMS_DLQ and acked (deliveries exhausted, or not a CloudEvent).",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "commsops_forwarder_sink_seconds",
			Help:    "Duration of one delivery to the sink, by outcome (ok, failed).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"outcome"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "commsops_forwarder_consumer_pending",
			Help: "Lag of the durable: events not yet delivered (num_pending) plus delivered and not acknowledged.",
		}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "commsops_forwarder_held",
			Help: "Events this replica holds, waiting for their turn: behind an earlier event of their key (a retry, a hand-over) or for a delivery slot.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.delivered, m.retried, m.deadLettered, m.latency, m.lag, m.held)
	}
	return m
}
