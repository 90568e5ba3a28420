package resolver

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of one worker. Registered on Config.Registerer when set.
type metrics struct {
	messages       *prometheus.CounterVec
	emitted        *prometheus.CounterVec
	races          prometheus.Counter
	deadLetter     prometheus.Counter
	resolve        prometheus.Histogram
	pending        *prometheus.GaugeVec
	commits        prometheus.Counter
	commitFailures prometheus.Counter
	batched        prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commsops_resolver_messages_total",
			Help: "Input messages by outcome: applied, duplicate (already applied), deadlettered, left (for redelivery).",
		}, []string{"outcome"}),
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commsops_resolver_events_total", Help: "Resolved events published, by status (stalled included).",
		}, []string{"status"}),
		races: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commsops_resolver_races_total", Help: "Evidence absorbed because it reported an older status (the race).",
		}),
		deadLetter: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commsops_resolver_deadlettered_total", Help: "Messages copied to COMMS_DLQ and terminated.",
		}),
		resolve: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "commsops_resolver_resolve_seconds",
			Help:    "From the ingest of the evidence to the publication of the resolved event it caused.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "commsops_resolver_consumer_pending",
			Help: "Consumer lag per COMMS_IN partition: messages not yet delivered plus delivered and not acknowledged.",
		}, []string{"partition"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commsops_resolver_commits_total", Help: "State writes (group commits of one key's applied messages).",
		}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commsops_resolver_commit_failures_total", Help: "Failed state writes (or the state loads before them): retried while the key waits, unless they can never succeed.",
		}),
		batched: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "commsops_resolver_commit_messages",
			Help:    "Messages acknowledged per state write.",
			Buckets: []float64{1, 2, 3, 4, 6, 8, 16, 32, 64},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.emitted, m.races, m.deadLetter, m.resolve, m.pending, m.commits, m.commitFailures, m.batched)
	}
	return m
}

// watchLag refreshes the per-partition lag gauge of partitions' consumers
// every so often until ctx ends.
func (m *metrics) watchLag(ctx context.Context, parts *ownership, partitions int, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for p := range partitions {
			ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
			info, err := parts.consumer(p).Info(ictx)
			cancel()
			if err == nil {
				m.pending.WithLabelValues(strconv.Itoa(p)).Set(float64(info.NumPending) + float64(info.NumAckPending))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
