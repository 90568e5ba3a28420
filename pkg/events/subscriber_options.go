package events

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphid"
)

// Subscriber defaults.
const (
	// DefaultAckWait is the default of AckWait.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxDeliver is the default of MaxDeliver.
	DefaultMaxDeliver = 10
	// DefaultDrainTimeout is the default of DrainTimeout.
	DefaultDrainTimeout = 30 * time.Second
)

// DefaultBackoff is the default of Backoff: the delays before the
// redeliveries of an event whose handler keeps failing (the last repeats).
// With DefaultMaxDeliver an event is retried for about 12 minutes.
var DefaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute}

type startPolicy struct {
	name   string
	policy jetstream.DeliverPolicy
	seq    uint64
	time   time.Time
}

type subscriberConfig struct {
	durable      string
	statuses     []Status
	keys         []string // Key of each clientContext filter, deduplicated
	start        *startPolicy
	ackWait      time.Duration
	maxDeliver   int
	backoff      []time.Duration
	concurrency  int
	drainTimeout time.Duration
	onError      func(error)
}

// SubscriberOption configures a Subscriber. NewSubscriber returns an error
// wrapping ErrInvalidOption for an option with an impossible value.
type SubscriberOption func(*subscriberConfig) error

// Durable names a durable consumer. Every replica of one subscriber service
// passes the same name: they bind the same consumer and share its events
// (each event goes to one of them), and the service resumes where it stopped,
// whichever replica restarts. Without Durable, each Run has an ephemeral
// consumer of its own, deleted when Run returns.
//
// The start options (DeliverNew, DeliverAll, StartAtSequence, StartAtTime)
// only apply when the durable is created; an existing durable resumes after
// its last acknowledged event. The other settings (filters, AckWait,
// MaxDeliver) are updated to those of the replica that starts last.
// Replicas handle their shares in parallel: the ordering of Concurrency holds
// within each replica's share only.
//
// name must be 1 to 64 characters, none of them white space, '.', '*', '>',
// '/' or '\'.
func Durable(name string) SubscriberOption {
	return func(c *subscriberConfig) error {
		if name == "" || len(name) > 64 || strings.ContainsAny(name, ".*>/\\") || strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return fmt.Errorf("%w: Durable(%q): 1 to 64 characters without white space, '.', '*', '>', '/' or '\\'", ErrInvalidOption, name)
		}
		c.durable = name
		return nil
	}
}

// FilterStatus delivers only events of these statuses (any casing, as
// ParseStatus reads them). Several FilterStatus add up.
func FilterStatus(statuses ...Status) SubscriberOption {
	return func(c *subscriberConfig) error {
		if len(statuses) == 0 {
			return fmt.Errorf("%w: FilterStatus needs at least one status", ErrInvalidOption)
		}
		for _, s := range statuses {
			st, err := ParseStatus(string(s))
			if err != nil {
				return fmt.Errorf("%w: FilterStatus: %w", ErrInvalidOption, err)
			}
			if !slices.Contains(c.statuses, st) {
				c.statuses = append(c.statuses, st)
			}
		}
		return nil
	}
}

// FilterClientContext delivers only events of these clientContexts. Each goes
// through Key, so no clientContext (dots, spaces, '*', '>', anything) can
// widen the filter: a subscriber gets exactly its own events. Several
// FilterClientContext add up; with FilterStatus too, the consumer gets each
// (clientContext, status) pair as one of its FilterSubjects. An empty or
// invalid clientContext (over MaxClientContextLen characters, invalid UTF-8
// or control characters) is refused: it would never match, and "" must not
// mean "all".
func FilterClientContext(clientContexts ...string) SubscriberOption {
	return func(c *subscriberConfig) error {
		if len(clientContexts) == 0 {
			return fmt.Errorf("%w: FilterClientContext needs at least one clientContext", ErrInvalidOption)
		}
		for _, cc := range clientContexts {
			if cc == "" {
				return fmt.Errorf("%w: FilterClientContext: empty clientContext", ErrInvalidOption)
			}
			if err := graphid.ValidateClientContext(cc); err != nil {
				return fmt.Errorf("%w: FilterClientContext: %w", ErrInvalidOption, err)
			}
			if k := Key(cc); !slices.Contains(c.keys, k) {
				c.keys = append(c.keys, k)
			}
		}
		return nil
	}
}

func setStart(c *subscriberConfig, s startPolicy) error {
	if c.start != nil {
		return fmt.Errorf("%w: %s and %s both given: choose one start", ErrInvalidOption, c.start.name, s.name)
	}
	c.start = &s
	return nil
}

// DeliverNew starts a new consumer with the events stored after its creation.
// It is the default, for durable and ephemeral consumers alike: a new
// service does not replay the stream's whole history (days of events) by
// surprise; a durable then resumes where it stopped, so it misses nothing
// across restarts.
func DeliverNew() SubscriberOption {
	return func(c *subscriberConfig) error {
		return setStart(c, startPolicy{name: "DeliverNew", policy: jetstream.DeliverNewPolicy})
	}
}

// DeliverAll starts a new consumer with the first event COMMS_RESOLVED holds.
func DeliverAll() SubscriberOption {
	return func(c *subscriberConfig) error {
		return setStart(c, startPolicy{name: "DeliverAll", policy: jetstream.DeliverAllPolicy})
	}
}

// StartAtSequence starts a new consumer at the event of COMMS_RESOLVED stream
// sequence seq (Resolved.Seq), or the first after it that matches the
// filters: a replay. seq must be at least 1.
func StartAtSequence(seq uint64) SubscriberOption {
	return func(c *subscriberConfig) error {
		if seq == 0 {
			return fmt.Errorf("%w: StartAtSequence(0): stream sequences start at 1", ErrInvalidOption)
		}
		return setStart(c, startPolicy{name: "StartAtSequence", policy: jetstream.DeliverByStartSequencePolicy, seq: seq})
	}
}

// StartAtTime starts a new consumer at the first event stored at or after t:
// a replay. t must not be zero.
func StartAtTime(t time.Time) SubscriberOption {
	return func(c *subscriberConfig) error {
		if t.IsZero() {
			return fmt.Errorf("%w: StartAtTime: zero time", ErrInvalidOption)
		}
		return setStart(c, startPolicy{name: "StartAtTime", policy: jetstream.DeliverByStartTimePolicy, time: t})
	}
}

// AckWait is how long the server waits for a subscriber that stopped
// answering (crashed, cut off) before it redelivers the events that
// subscriber held (default DefaultAckWait, at least 1s). A handler may run
// longer: while it runs, Run tells the server every AckWait/2 that the event
// is in progress.
func AckWait(d time.Duration) SubscriberOption {
	return func(c *subscriberConfig) error {
		if d < time.Second {
			return fmt.Errorf("%w: AckWait(%v): at least 1s", ErrInvalidOption, d)
		}
		c.ackWait = d
		return nil
	}
}

// MaxDeliver bounds the deliveries of an event whose handler keeps failing
// (default DefaultMaxDeliver; -1: unlimited). When the handler fails on the
// last one, Run reports ErrDeliveriesExhausted through OnError and terminates
// the event: the server does not deliver it to this consumer again (it stays
// in the stream for a replay). n must be at least 1, or -1.
func MaxDeliver(n int) SubscriberOption {
	return func(c *subscriberConfig) error {
		if n < 1 && n != -1 {
			return fmt.Errorf("%w: MaxDeliver(%d): at least 1, or -1 for unlimited", ErrInvalidOption, n)
		}
		c.maxDeliver = n
		return nil
	}
}

// Backoff sets the delays before the redeliveries of an event whose handler
// returned an error: delays[0] after the first failure, delays[1] after the
// second, and the last one for every later failure (default DefaultBackoff).
// Each delay must be positive.
func Backoff(delays ...time.Duration) SubscriberOption {
	return func(c *subscriberConfig) error {
		if len(delays) == 0 {
			return fmt.Errorf("%w: Backoff needs at least one delay", ErrInvalidOption)
		}
		for _, d := range delays {
			if d <= 0 {
				return fmt.Errorf("%w: Backoff delay %v: must be positive", ErrInvalidOption, d)
			}
		}
		c.backoff = slices.Clone(delays)
		return nil
	}
}

// Concurrency runs up to n handlers at once (default 1, at most 4096). The
// events of one key (one clientContext) are never handled concurrently and
// go to the handler in stream order, so one operation's statuses arrive in
// order; events of different keys may be handled in any order. With n = 1
// every event is handled in stream order. A redelivered event comes after
// those that overtook it while it waited.
func Concurrency(n int) SubscriberOption {
	return func(c *subscriberConfig) error {
		if n < 1 || n > 4096 {
			return fmt.Errorf("%w: Concurrency(%d): 1 to 4096", ErrInvalidOption, n)
		}
		c.concurrency = n
		return nil
	}
}

// DrainTimeout is how long the handlers still running when Run's context ends
// may go on before their context is cancelled (default DefaultDrainTimeout;
// 0 cancels them at once). Run returns only once they have returned in any
// case. d must not be negative.
func DrainTimeout(d time.Duration) SubscriberOption {
	return func(c *subscriberConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: DrainTimeout(%v): must not be negative", ErrInvalidOption, d)
		}
		c.drainTimeout = d
		return nil
	}
}

// OnError receives what Run handles without returning: undecodable events
// (ErrUndecodable; terminated), handler panics (ErrHandlerPanic), events
// given up after MaxDeliver (ErrDeliveriesExhausted), failed acks, and
// transient consume errors (the consumer keeps trying). It is called from
// Run's goroutines, possibly concurrently. Default: errors are dropped.
func OnError(f func(error)) SubscriberOption {
	return func(c *subscriberConfig) error {
		if f == nil {
			return fmt.Errorf("%w: OnError(nil)", ErrInvalidOption)
		}
		c.onError = f
		return nil
	}
}
