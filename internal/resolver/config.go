package resolver

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Config tunes a Worker. The zero value of each field means its default.
type Config struct {
	// WorkerID names this worker in logs and consumer pins (default:
	// hostname-pid, so that two workers on one host differ).
	WorkerID string
	// AckWait is how long JetStream waits for an ack before redelivering
	// (default 30s). It bounds how long a crashed worker's messages wait.
	AckWait time.Duration
	// MaxDeliver bounds deliveries of one message; the last failed one is
	// dead-lettered (default 10).
	MaxDeliver int
	// MaxAttempts is how many times a failure is retried in place before it
	// is logged as persistent, and how many times a fenced state write is
	// rebuilt at once before it backs off (default 8). A failure that can
	// pass is retried until it does (the key waits meanwhile); one that
	// cannot leaves the message for redelivery.
	MaxAttempts int
	// MaxAckPending bounds messages in flight per partition (default 1024).
	MaxAckPending int
	// PinnedTTL is how long a partition stays pinned to a worker that stopped
	// pulling before the server lets another worker take it over (default
	// 5s). With Members, a killed worker's partitions are unpinned sooner, by
	// the other workers' liveness probes (see doc.go, "Failover").
	PinnedTTL time.Duration
	// CacheSize bounds the keys whose state is kept in memory (default 100000).
	CacheSize int
	// StallAfter: a non-terminal operation with no news for this long is
	// reported stalled (default 10m).
	StallAfter time.Duration
	// Retention is how long a key's state is kept once all its operations are
	// terminal (default 24h, longer than Graph's 4-hour retry horizon, so late
	// duplicates still find the state that absorbs them).
	Retention time.Duration
	// Members is the COMMS_WORKERS bucket (streams.Layout.Workers). With it,
	// workers share the partitions evenly; nil: no balancing (one worker
	// takes what the server pins to it).
	Members jetstream.KeyValue
	// Heartbeat is how often a worker announces itself and rebalances
	// (default 2s).
	Heartbeat time.Duration
	// CommitDelay is how long a key's applied messages may wait for more of
	// the same key before its state is written and they are acked (0, the
	// default: as soon as the key has nothing more queued). Resolved events
	// never wait for it; a longer delay writes the state less often (once per
	// operation rather than per message when its evidence arrives within the
	// delay) and keeps messages unacked longer. At most AckWait/4.
	CommitDelay time.Duration
	// Registerer receives the worker's Prometheus metrics; nil: not exported.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() error {
	if c.WorkerID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "resolver"
		}
		c.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AckWait, 30*time.Second)
	def(&c.PinnedTTL, 5*time.Second)
	def(&c.StallAfter, 10*time.Minute)
	def(&c.Retention, 24*time.Hour)
	def(&c.Heartbeat, 2*time.Second)
	defInt(&c.MaxDeliver, 10)
	defInt(&c.MaxAttempts, 8)
	defInt(&c.MaxAckPending, 1024)
	defInt(&c.CacheSize, 100000)
	switch {
	case c.AckWait < time.Second:
		return fmt.Errorf("%w: ack wait %v is under 1s", ErrConfig, c.AckWait)
	case c.MaxDeliver < 1 || c.MaxAttempts < 1 || c.MaxAckPending < 1 || c.CacheSize < 1:
		return fmt.Errorf("%w: max deliver, attempts, ack pending and cache size must be positive", ErrConfig)
	case c.PinnedTTL < 100*time.Millisecond:
		return fmt.Errorf("%w: pinned TTL %v is under 100ms", ErrConfig, c.PinnedTTL)
	case c.Retention < time.Second:
		return fmt.Errorf("%w: retention %v is under 1s", ErrConfig, c.Retention)
	case c.CommitDelay < 0 || c.CommitDelay > c.AckWait/4:
		return fmt.Errorf("%w: commit delay %v is negative or over a quarter of the ack wait %v", ErrConfig, c.CommitDelay, c.AckWait)
	case c.StallAfter < time.Second:
		return fmt.Errorf("%w: stall after %v is under 1s", ErrConfig, c.StallAfter)
	}
	return nil
}
