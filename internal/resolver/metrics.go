package resolver

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commsops/commsops/pkg/events"
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

	// byOutcome and byStatus cache messages' and emitted's children.
	byOutcome [outcomeNoop + 1]cachedCounter
	byStatus  [len(emittedStatuses)]cachedCounter
}

// cachedCounter holds a CounterVec child once fetched, so that the message
// path does not hash its label values on every increment. Children are
// still made on first use only: /metrics shows the same series as without
// the cache.
type cachedCounter struct {
	p atomic.Pointer[prometheus.Counter]
}

// get returns the cached child, fetching it with fetch on first use (two
// racing first uses fetch the same child).
func (c *cachedCounter) get(vec *prometheus.CounterVec, label string) prometheus.Counter {
	if p := c.p.Load(); p != nil {
		return *p
	}
	ctr := vec.WithLabelValues(label)
	c.p.Store(&ctr)
	return ctr
}

// emittedStatuses are the statuses whose emitted counters are cached.
var emittedStatuses = [...]events.Status{
	events.StatusNotStarted, events.StatusRunning, events.StatusCompleted, events.StatusFailed, events.StatusStalled,
}

// message counts one input message with outcome o.
func (m *metrics) message(o outcome) {
	if o >= 0 && int(o) < len(m.byOutcome) {
		m.byOutcome[o].get(m.messages, o.String()).Inc()
		return
	}
	m.messages.WithLabelValues(o.String()).Inc()
}

// emittedEvent counts one stored resolved event of status s.
func (m *metrics) emittedEvent(s events.Status) {
	for i, st := range emittedStatuses {
		if st == s {
			m.byStatus[i].get(m.emitted, s.Token()).Inc()
			return
		}
	}
	m.emitted.WithLabelValues(s.Token()).Inc()
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
