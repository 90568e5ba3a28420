package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrSubscriberConfig is returned (wrapped) by NewSubscriber for invalid options.
var ErrSubscriberConfig = errors.New("events: invalid subscriber option")

// Resolved is one resolved operation event as a subscriber receives it.
type Resolved struct {
	// Event is the CloudEvent (id, type io.commsops.operation.<status>,
	// subject the clientContext, source, time, traceparent extension).
	Event event.Event
	// Data is the event's data, decoded.
	Data ResolvedOperation
	// Seq is the COMMS_RESOLVED stream sequence; Subject the NATS subject.
	Seq     uint64
	Subject string
	// Deliveries counts deliveries of this message to the consumer (1 first time).
	Deliveries uint64
}

// Handler handles one resolved event. Returning nil acknowledges it; an error
// has it redelivered after a backoff, up to MaxDeliver deliveries. Subscribers
// must dedupe by Event.ID(): after a crash or a replay an event can come again.
type Handler func(ctx context.Context, r *Resolved) error

type subscriberConfig struct {
	durable     string
	statuses    []Status
	ccs         []string
	deliver     jetstream.DeliverPolicy
	startSeq    uint64
	startTime   time.Time
	ackWait     time.Duration
	maxDeliver  int
	concurrency int
	onError     func(error)
}

// SubscriberOption configures a Subscriber.
type SubscriberOption func(*subscriberConfig) error

// Durable names a durable consumer. Several replicas of one subscriber service
// using the same name share the events (each handled by one of them) and
// resume where the service stopped. Without it the consumer is ephemeral.
func Durable(name string) SubscriberOption {
	return func(c *subscriberConfig) error {
		if name == "" {
			return fmt.Errorf("%w: empty durable name", ErrSubscriberConfig)
		}
		c.durable = name
		return nil
	}
}

// FilterStatus delivers only events of these statuses.
func FilterStatus(statuses ...Status) SubscriberOption {
	return func(c *subscriberConfig) error {
		for _, s := range statuses {
			if _, err := ParseStatus(string(s)); err != nil {
				return fmt.Errorf("%w: %w", ErrSubscriberConfig, err)
			}
		}
		c.statuses = append(c.statuses, statuses...)
		return nil
	}
}

// FilterClientContext delivers only events of these clientContexts. Each goes
// through Key, so no clientContext can widen the filter.
func FilterClientContext(clientContexts ...string) SubscriberOption {
	return func(c *subscriberConfig) error {
		for _, cc := range clientContexts {
			if cc == "" {
				return fmt.Errorf("%w: empty clientContext filter", ErrSubscriberConfig)
			}
		}
		c.ccs = append(c.ccs, clientContexts...)
		return nil
	}
}

// DeliverNew starts with events published after the consumer is created (the default).
func DeliverNew() SubscriberOption {
	return func(c *subscriberConfig) error { c.deliver = jetstream.DeliverNewPolicy; return nil }
}

// DeliverAll starts with the first event COMMS_RESOLVED holds.
func DeliverAll() SubscriberOption {
	return func(c *subscriberConfig) error { c.deliver = jetstream.DeliverAllPolicy; return nil }
}

// StartAtSequence replays from a COMMS_RESOLVED stream sequence.
func StartAtSequence(seq uint64) SubscriberOption {
	return func(c *subscriberConfig) error {
		if seq == 0 {
			return fmt.Errorf("%w: sequences start at 1", ErrSubscriberConfig)
		}
		c.deliver, c.startSeq = jetstream.DeliverByStartSequencePolicy, seq
		return nil
	}
}

// StartAtTime replays from the first event stored at or after t.
func StartAtTime(t time.Time) SubscriberOption {
	return func(c *subscriberConfig) error {
		if t.IsZero() {
			return fmt.Errorf("%w: zero start time", ErrSubscriberConfig)
		}
		c.deliver, c.startTime = jetstream.DeliverByStartTimePolicy, t
		return nil
	}
}

// AckWait is how long a handler may take before the event is redelivered
// (default 30s).
func AckWait(d time.Duration) SubscriberOption {
	return func(c *subscriberConfig) error {
		if d < time.Second {
			return fmt.Errorf("%w: ack wait %v under 1s", ErrSubscriberConfig, d)
		}
		c.ackWait = d
		return nil
	}
}

// MaxDeliver bounds deliveries of an event whose handler keeps failing
// (default 10); after that the server stops redelivering it.
func MaxDeliver(n int) SubscriberOption {
	return func(c *subscriberConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: max deliver %d", ErrSubscriberConfig, n)
		}
		c.maxDeliver = n
		return nil
	}
}

// Concurrency runs up to n handlers at once (default 1: events in stream
// order). With n > 1 events of different operations may be handled out of order.
func Concurrency(n int) SubscriberOption {
	return func(c *subscriberConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: concurrency %d", ErrSubscriberConfig, n)
		}
		c.concurrency = n
		return nil
	}
}

// OnError receives errors Run does not return: undecodable events (which are
// terminated) and consume errors.
func OnError(f func(error)) SubscriberOption {
	return func(c *subscriberConfig) error { c.onError = f; return nil }
}

// Subscriber consumes COMMS_RESOLVED. Create it with NewSubscriber and run it
// with Run; safe to Run once at a time.
type Subscriber struct {
	js  jetstream.JetStream
	cfg subscriberConfig
}

// NewSubscriber validates the options and returns a Subscriber over js.
func NewSubscriber(js jetstream.JetStream, opts ...SubscriberOption) (*Subscriber, error) {
	c := subscriberConfig{deliver: jetstream.DeliverNewPolicy, ackWait: 30 * time.Second, maxDeliver: 10, concurrency: 1, onError: func(error) {}}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	return &Subscriber{js: js, cfg: c}, nil
}

// filters returns the subject filters of the options (all events when none).
func (s *Subscriber) filters() []string {
	ccs, statuses := s.cfg.ccs, s.cfg.statuses
	if len(ccs) == 0 {
		ccs = []string{""}
	}
	if len(statuses) == 0 {
		statuses = []Status{""}
	}
	var out []string
	for _, cc := range ccs {
		for _, st := range statuses {
			out = append(out, ResolvedFilter(cc, st))
		}
	}
	return out
}

// ConsumerConfig returns the JetStream consumer configuration Run uses.
func (s *Subscriber) ConsumerConfig() jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:        s.cfg.durable,
		FilterSubjects: s.filters(),
		DeliverPolicy:  s.cfg.deliver,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        s.cfg.ackWait,
		MaxDeliver:     s.cfg.maxDeliver,
		MaxAckPending:  max(256, 4*s.cfg.concurrency),
	}
	if s.cfg.startSeq > 0 {
		cc.OptStartSeq = s.cfg.startSeq
	}
	if !s.cfg.startTime.IsZero() {
		t := s.cfg.startTime
		cc.OptStartTime = &t
	}
	if s.cfg.durable == "" {
		cc.InactiveThreshold = time.Minute
	}
	return cc
}

// Run consumes until ctx ends, calling handler for each event, then drains:
// it stops fetching, lets in-flight handlers finish (their results are still
// acked or naked) and returns nil. It returns an error only when the consumer
// cannot be created or consumed.
func (s *Subscriber) Run(ctx context.Context, handler Handler) error {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, StreamResolved, s.ConsumerConfig())
	if err != nil {
		return fmt.Errorf("events: subscribe %s: %w", StreamResolved, err)
	}
	sem := make(chan struct{}, s.cfg.concurrency)
	var wg sync.WaitGroup
	hctx := context.WithoutCancel(ctx) // in-flight handlers finish after ctx ends
	cc, err := cons.Consume(func(m jetstream.Msg) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.handle(hctx, m, handler)
		}()
		if s.cfg.concurrency == 1 {
			wg.Wait() // keep stream order
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrNoHeartbeat) {
			s.cfg.onError(err)
		}
	}))
	if err != nil {
		return fmt.Errorf("events: consume %s: %w", StreamResolved, err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	wg.Wait()
	return nil
}

func (s *Subscriber) handle(ctx context.Context, m jetstream.Msg, handler Handler) {
	r, err := decodeResolved(m)
	if err != nil {
		s.cfg.onError(fmt.Errorf("events: undecodable resolved event on %s: %w", m.Subject(), err))
		_ = m.TermWithReason(err.Error())
		return
	}
	if err := handler(ctx, r); err != nil {
		delay := min(time.Duration(r.Deliveries)*time.Second, 30*time.Second)
		_ = m.NakWithDelay(delay)
		return
	}
	_ = m.Ack()
}

func decodeResolved(m jetstream.Msg) (*Resolved, error) {
	e, err := DecodeMsg(m.Headers(), m.Data())
	if err != nil {
		return nil, err
	}
	r := &Resolved{Event: e, Subject: m.Subject()}
	if err := json.Unmarshal(e.Data(), &r.Data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	if meta, err := m.Metadata(); err == nil {
		r.Seq, r.Deliveries = meta.Sequence.Stream, meta.NumDelivered
	}
	return r, nil
}
