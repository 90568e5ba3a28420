package forwarder

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// PriorityGroup is the priority group of every forwarder durable: its
// replicas pull in it and the server pins one of them.
const PriorityGroup = "forwarder"

// Config tunes a Forwarder. The zero value of each field means its default.
type Config struct {
	// Sink is the URL events are POSTed to (required).
	Sink string
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// Durable names the consumer that replicas share (default "forwarder").
	Durable string
	// Statuses selects the events forwarded (default: every status).
	Statuses []events.Status
	// Timeout bounds one delivery (default 10s).
	Timeout time.Duration
	// MaxDeliver: the delivery of this number that fails dead-letters the
	// event (default 10).
	MaxDeliver int
	// Concurrency bounds the keys delivered at once (default 64).
	Concurrency int
	// WorkerID names this replica in logs and dead letters (default
	// hostname-pid).
	WorkerID string
	// AckWait is how long the server waits for a replica that stopped
	// answering before it redelivers what that replica held (default 30s).
	AckWait time.Duration
	// PinnedTTL is how long the consumer stays pinned to a replica that
	// stopped pulling before another one takes it (default 5s).
	PinnedTTL time.Duration
	// Backoff is the delay after the first failed delivery; it doubles with
	// each delivery up to MaxBackoff (defaults 1s and 1m).
	Backoff, MaxBackoff time.Duration
	// MaxRetryAfter caps a sink's Retry-After (default 5m).
	MaxRetryAfter time.Duration
	// FloorPoll is how often the ack floor and the lag are read while
	// placeholders wait (default 1s); the lag gauge is refreshed at least
	// every 5s.
	FloorPoll time.Duration
	// HTTPClient sends the requests (default: a client of its own over a
	// clone of http.DefaultTransport). Its Timeout is not used: Timeout is.
	HTTPClient *http.Client
	// Registerer receives the metrics; nil: not exported.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() error {
	if c.WorkerID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "forwarder"
		}
		c.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Timeout, 10*time.Second)
	def(&c.AckWait, 30*time.Second)
	def(&c.PinnedTTL, 5*time.Second)
	def(&c.Backoff, time.Second)
	def(&c.MaxBackoff, time.Minute)
	def(&c.MaxRetryAfter, 5*time.Minute)
	def(&c.FloorPoll, time.Second)
	if c.Durable == "" {
		c.Durable = "forwarder"
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 10
	}
	if c.Concurrency == 0 {
		c.Concurrency = 64
	}
	u, err := url.Parse(c.Sink)
	switch {
	case c.Sink == "":
		return fmt.Errorf("%w: no sink URL (K_SINK)", ErrConfig)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		// The URL is not quoted: it may carry credentials.
		return fmt.Errorf("%w: the sink URL is not an absolute http or https URL", ErrConfig)
	case c.Durable == "" || len(c.Durable) > 64 || strings.ContainsAny(c.Durable, ".*>/\\ \t\r\n"):
		return fmt.Errorf("%w: durable %q: 1 to 64 characters without white space, '.', '*', '>', '/' or '\\'", ErrConfig, c.Durable)
	case c.MaxDeliver < 1:
		return fmt.Errorf("%w: max deliver %d is under 1", ErrConfig, c.MaxDeliver)
	case c.Concurrency < 1 || c.Concurrency > 4096:
		return fmt.Errorf("%w: concurrency %d is not within 1..4096", ErrConfig, c.Concurrency)
	case c.Timeout < 0 || c.AckWait < time.Second || c.PinnedTTL < 100*time.Millisecond:
		return fmt.Errorf("%w: timeout %v, ack wait %v (at least 1s) or pinned TTL %v (at least 100ms) out of range", ErrConfig, c.Timeout, c.AckWait, c.PinnedTTL)
	case c.Backoff < 0 || c.MaxBackoff < c.Backoff || c.MaxRetryAfter < 0 || c.FloorPoll <= 0:
		return fmt.Errorf("%w: backoff %v..%v, max retry-after %v or floor poll %v out of range", ErrConfig, c.Backoff, c.MaxBackoff, c.MaxRetryAfter, c.FloorPoll)
	}
	seen := make(map[events.Status]bool)
	var sts []events.Status
	for _, s := range c.Statuses {
		st, err := events.ParseStatus(string(s))
		if err != nil {
			return fmt.Errorf("%w: statuses: %w", ErrConfig, err)
		}
		if !seen[st] {
			seen[st] = true
			sts = append(sts, st)
		}
	}
	c.Statuses = sts
	return nil
}

// ParseStatuses reads a comma list of statuses (FORWARDER_STATUSES) in any
// casing; empty means every status. It returns an error wrapping ErrConfig
// for an unknown status.
func ParseStatuses(list []string) ([]events.Status, error) {
	var out []events.Status
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		st, err := events.ParseStatus(s)
		if err != nil {
			return nil, fmt.Errorf("%w: FORWARDER_STATUSES: %w", ErrConfig, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// FilterSubjects returns the consumer's filters: comms.resolved.*.<status>
// per selected status, or comms.resolved.*.* for every status.
func FilterSubjects(statuses []events.Status) []string {
	if len(statuses) == 0 {
		return []string{subjects.ResolvedStatusFilter("")}
	}
	out := make([]string, 0, len(statuses))
	for _, s := range statuses {
		out = append(out, subjects.ResolvedStatusFilter(string(s)))
	}
	return out
}
