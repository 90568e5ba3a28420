package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/jsutil"
)

// Resolved is one resolved operation event as a Subscriber's handler
// receives it. It is valid only during the handler call. The event is
// acknowledged or redelivered according to the handler's return value only:
// there is no way to ack it from here.
type Resolved struct {
	// Event is the CloudEvent: id (unique per operation and status, the same
	// on every replay: dedupe by it), type io.commsops.operation.<status>,
	// subject the clientContext, source /communications/calls/<callId>, time,
	// and the traceparent extension when the evidence carried one.
	Event event.Event
	// Data is the event's data, decoded.
	Data ResolvedOperation
	// Seq is the event's COMMS_RESOLVED stream sequence: give it to
	// StartAtSequence to replay from here.
	Seq uint64
	// Subject is the NATS subject, comms.resolved.<key>.<status>.
	Subject string
	// Deliveries counts the deliveries of this event to the consumer,
	// including this one (1 the first time).
	Deliveries uint64
}

// Handler handles one resolved event. Returning nil acknowledges it;
// returning an error has it redelivered after the Backoff delay, up to
// MaxDeliver deliveries in all. ctx carries the values of Run's context but
// not its cancellation: it is cancelled DrainTimeout after Run's context
// ends. Events can come more than once (after a crash, a handler error, a
// replay): dedupe by r.Event.ID().
type Handler func(ctx context.Context, r *Resolved) error

// Subscriber consumes resolved operation events from COMMS_RESOLVED through
// a JetStream pull consumer. Create it with NewSubscriber and call Run. It
// does not own the JetStream context or its connection: the caller closes
// them after Run has returned.
type Subscriber struct {
	js      jetstream.JetStream
	cfg     subscriberConfig
	running atomic.Bool
}

// NewSubscriber validates the options and returns a Subscriber over js. It
// does not contact the server: Run creates or binds the consumer.
func NewSubscriber(js jetstream.JetStream, opts ...SubscriberOption) (*Subscriber, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: nil JetStream", ErrInvalidOption)
	}
	c := subscriberConfig{
		ackWait: DefaultAckWait, maxDeliver: DefaultMaxDeliver, backoff: DefaultBackoff,
		concurrency: 1, drainTimeout: DefaultDrainTimeout, onError: func(error) {},
	}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.start == nil {
		c.start = &startPolicy{name: "DeliverNew", policy: jetstream.DeliverNewPolicy}
	}
	return &Subscriber{js: js, cfg: c}, nil
}

// FilterSubjects returns the COMMS_RESOLVED subject filters of the options:
// comms.resolved.<key>.<status> for each (clientContext, status) pair, with *
// for the side no option filters; none when no filter option was given
// (every event).
func (s *Subscriber) FilterSubjects() []string {
	keys, statuses := s.cfg.keys, s.cfg.statuses
	if len(keys) == 0 && len(statuses) == 0 {
		return nil
	}
	if len(keys) == 0 {
		keys = []string{"*"}
	}
	var out []string
	for _, k := range keys {
		if len(statuses) == 0 {
			out = append(out, SubjectResolvedPrefix+k+".*")
			continue
		}
		for _, st := range statuses {
			out = append(out, ResolvedSubject(k, st))
		}
	}
	return out
}

// ConsumerConfig returns the configuration Run gives a new consumer.
func (s *Subscriber) ConsumerConfig() jetstream.ConsumerConfig {
	c := s.cfg
	cc := jetstream.ConsumerConfig{
		Durable:        c.durable,
		Description:    "commsops resolved-event subscriber",
		FilterSubjects: s.FilterSubjects(),
		DeliverPolicy:  c.start.policy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.ackWait,
		MaxDeliver:     c.maxDeliver,
		MaxAckPending:  max(1000, 4*c.concurrency),
	}
	switch c.start.policy {
	case jetstream.DeliverByStartSequencePolicy:
		cc.OptStartSeq = c.start.seq
	case jetstream.DeliverByStartTimePolicy:
		t := c.start.time
		cc.OptStartTime = &t
	}
	if c.durable == "" {
		// Deleted by Run when it returns; this only cleans up after a crash.
		cc.InactiveThreshold = 5 * time.Minute
	}
	return cc
}

// bind creates the consumer, or binds the existing durable keeping its start
// position and updating its other settings when they changed.
func (s *Subscriber) bind(ctx context.Context) (jetstream.Consumer, error) {
	want := s.ConsumerConfig()
	if want.Durable == "" {
		return s.js.CreateConsumer(ctx, StreamResolved, want)
	}
	for attempt := 0; ; attempt++ {
		cons, err := s.js.Consumer(ctx, StreamResolved, want.Durable)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			cons, err = s.js.CreateConsumer(ctx, StreamResolved, want)
			if errors.Is(err, jetstream.ErrConsumerExists) && attempt < 3 {
				continue // another replica created it first, with other start options
			}
			return cons, err
		}
		if err != nil {
			return nil, err
		}
		have := cons.CachedInfo().Config
		if sameSettings(have, want) {
			return cons, nil
		}
		upd := have
		upd.Description, upd.FilterSubject, upd.FilterSubjects = want.Description, "", want.FilterSubjects
		upd.AckWait, upd.MaxDeliver, upd.MaxAckPending = want.AckWait, want.MaxDeliver, want.MaxAckPending
		cons, err = s.js.UpdateConsumer(ctx, StreamResolved, upd)
		if err != nil {
			return nil, fmt.Errorf("durable %q exists with settings that cannot be changed to these (%w): delete it or use another name", want.Durable, err)
		}
		return cons, nil
	}
}

func sameSettings(have, want jetstream.ConsumerConfig) bool {
	filters := func(c jetstream.ConsumerConfig) []string {
		f := slices.Clone(c.FilterSubjects)
		if c.FilterSubject != "" {
			f = append(f, c.FilterSubject)
		}
		slices.Sort(f)
		return f
	}
	return slices.Equal(filters(have), filters(want)) && have.AckPolicy == want.AckPolicy && have.AckWait == want.AckWait &&
		have.MaxDeliver == want.MaxDeliver && have.MaxAckPending == want.MaxAckPending
}

// Run creates the consumer (or binds the durable) and calls handler for each
// event until ctx ends or consuming becomes impossible.
//
// Acknowledgement: handler's nil return acks the event; an error naks it with
// the Backoff delay, and on the MaxDeliver-th delivery terminates it and
// reports ErrDeliveriesExhausted through OnError (the server stops
// redelivering it). An event that is not a resolved operation event is
// terminated and reported (ErrUndecodable) without calling handler.
//
// Shutdown: when ctx ends, Run stops fetching; events already received whose
// handler has not started are nak'd without delay, so another replica (or
// the next Run) gets them at once; handlers already running finish, and their
// results are acked or nak'd as usual (their context is cancelled only after
// DrainTimeout). Run returns nil once all of them have returned and the
// server has their acks (a flush of the connection). An ephemeral
// consumer is then deleted; a durable keeps its position. An event the server
// had sent but the subscriber had not received when it stopped is redelivered
// after AckWait.
//
// Run returns an error when the consumer cannot be created or bound (for
// example jetstream.ErrStreamNotFound: the pipeline never ran against this
// server), when the consumer is deleted while it runs, when the NATS
// connection is closed (wrapping ErrClosed), and ErrAlreadyRunning while
// another Run of s has not returned. After Run has returned, s may Run again:
// a durable resumes; an ephemeral consumer starts anew per the start option.
func (s *Subscriber) Run(ctx context.Context, handler Handler) error {
	if handler == nil {
		return fmt.Errorf("%w: nil handler", ErrInvalidOption)
	}
	if !s.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer s.running.Store(false)
	if ctx.Err() != nil {
		return nil
	}
	cons, err := s.bind(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("events: subscribe to %s: %w", StreamResolved, err)
	}
	if s.cfg.durable == "" {
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = s.js.DeleteConsumer(dctx, StreamResolved, cons.CachedInfo().Name)
		}()
	}

	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	r := &runner{cfg: &s.cfg, handler: handler, ctx: hctx, stopping: make(chan struct{})}
	n := s.cfg.concurrency
	lanes := make([]chan jetstream.Msg, n)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan jetstream.Msg)
		wg.Add(1)
		go func(lane <-chan jetstream.Msg) {
			defer wg.Done()
			for {
				select {
				case m := <-lane:
					r.process(m)
				case <-quit:
					return
				}
			}
		}(lanes[i])
	}

	fatal := make(chan error, 1)
	consumeCtx, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case <-r.stopping:
			_ = m.Nak()
			return
		default:
		}
		select {
		case lanes[laneOf(m.Subject(), n)] <- m:
		case <-r.stopping:
			_ = m.Nak()
		}
	},
		jetstream.PullMaxMessages(2*n),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			switch {
			case errors.Is(err, jetstream.ErrNoHeartbeat):
				// Transient: the client pulls again by itself.
			case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrBadRequest),
				errors.Is(err, jetstream.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionClosed):
				select {
				case fatal <- err:
				default:
				}
			default:
				r.report(fmt.Errorf("events: consuming %s: %w", StreamResolved, err))
			}
		}))
	if err != nil {
		close(quit)
		wg.Wait()
		return fmt.Errorf("events: consume %s: %w", StreamResolved, err)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case <-consumeCtx.Closed():
		runErr = fmt.Errorf("events: consuming %s stopped", StreamResolved)
		select {
		case err := <-fatal:
			runErr = fmt.Errorf("%w: %w", runErr, err)
		default:
		}
		if nc := s.js.Conn(); nc != nil && nc.IsClosed() {
			runErr = fmt.Errorf("%w: NATS connection closed: %w", ErrClosed, runErr)
		}
	case err := <-fatal:
		if errors.Is(err, jetstream.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionClosed) {
			err = fmt.Errorf("%w: NATS connection closed: %w", ErrClosed, err)
		}
		runErr = fmt.Errorf("events: consuming %s stopped: %w", StreamResolved, err)
	}
	close(r.stopping)
	if s.cfg.drainTimeout == 0 {
		hcancel()
	} else {
		t := time.AfterFunc(s.cfg.drainTimeout, hcancel)
		defer t.Stop()
	}
	consumeCtx.Drain()
	select {
	case <-consumeCtx.Closed():
	case <-time.After(s.cfg.ackWait):
		// The subscription did not close (connection gone): nothing more
		// can arrive that could be acked anyway.
		consumeCtx.Stop()
	}
	close(quit)
	wg.Wait()
	// The acks and naks are on their way: make sure the server has them
	// before the caller closes the connection.
	if nc := s.js.Conn(); nc != nil && !nc.IsClosed() {
		_ = nc.FlushTimeout(5 * time.Second)
	}
	return runErr
}

// laneOf maps the key token of "comms.resolved.<key>.<status>" to one of n
// lanes, so that one key's events are handled one at a time, in order.
func laneOf(subject string, n int) int {
	if n == 1 {
		return 0
	}
	key := strings.TrimPrefix(subject, SubjectResolvedPrefix)
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		key = key[:i]
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

type runner struct {
	cfg      *subscriberConfig
	handler  Handler
	ctx      context.Context
	stopping chan struct{}
}

func (r *runner) report(err error) { r.cfg.onError(err) }

// process decodes m, calls the handler and acks, naks or terminates m.
func (r *runner) process(m jetstream.Msg) {
	select {
	case <-r.stopping:
		_ = m.Nak() // no handler starts once Run is stopping
		return
	default:
	}
	res, err := decodeResolved(m)
	if err != nil {
		r.report(fmt.Errorf("%w: %s #%d: %w", ErrUndecodable, m.Subject(), res.Seq, err))
		_ = m.TermWithReason(truncate("undecodable: "+err.Error(), 200))
		return
	}
	stopKeepAlive := jsutil.KeepAlive(r.cfg.ackWait/2, r.cfg.ackWait/2, func() []jetstream.Msg { return []jetstream.Msg{m} })
	herr := r.call(res)
	stopKeepAlive()
	if herr == nil {
		if err := m.Ack(); err != nil {
			r.report(fmt.Errorf("events: ack %s #%d: %w", res.Subject, res.Seq, err))
		}
		return
	}
	if r.cfg.maxDeliver > 0 && res.Deliveries >= uint64(r.cfg.maxDeliver) {
		r.report(fmt.Errorf("%w: %s #%d (id %s) after %d deliveries: %w", ErrDeliveriesExhausted, res.Subject, res.Seq, res.Event.ID(), res.Deliveries, herr))
		_ = m.TermWithReason(truncate("handler failed on the last delivery: "+herr.Error(), 200))
		return
	}
	_ = m.NakWithDelay(r.delay(res.Deliveries))
}

// call runs the handler, turning a panic into an error.
func (r *runner) call(res *Resolved) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrHandlerPanic, p)
			r.report(fmt.Errorf("%s #%d: %w", res.Subject, res.Seq, err))
		}
	}()
	return r.handler(r.ctx, res)
}

// delay is the backoff after the failure of delivery number deliveries.
func (r *runner) delay(deliveries uint64) time.Duration {
	i := int(min(max(deliveries, 1)-1, uint64(len(r.cfg.backoff)-1)))
	return r.cfg.backoff[i]
}

// decodeResolved decodes a COMMS_RESOLVED message. The returned Resolved is
// never nil (its Seq and Subject are set even when decoding fails).
func decodeResolved(m jetstream.Msg) (*Resolved, error) {
	meta, err := m.Metadata()
	if err != nil {
		return &Resolved{Subject: m.Subject()}, fmt.Errorf("%w: no JetStream metadata: %v", ErrInvalidPayload, err)
	}
	return newResolved(m.Subject(), meta.Sequence.Stream, meta.NumDelivered, m.Headers(), m.Data())
}

// newResolved decodes a COMMS_RESOLVED message's parts. The returned Resolved
// is never nil (its Seq and Subject are set even when decoding fails).
func newResolved(subject string, seq, deliveries uint64, h nats.Header, data []byte) (*Resolved, error) {
	r := &Resolved{Subject: subject, Seq: seq, Deliveries: deliveries}
	e, err := DecodeMsg(h, data)
	if err != nil {
		return r, err
	}
	if !strings.HasPrefix(e.Type(), TypeResolvedPrefix) {
		return r, fmt.Errorf("%w: type %q is not a resolved operation event (%s<status>)", ErrInvalidPayload, e.Type(), TypeResolvedPrefix)
	}
	if err := json.Unmarshal(e.Data(), &r.Data); err != nil {
		if !errors.Is(err, ErrInvalidPayload) {
			err = fmt.Errorf("%w: data: %v", ErrInvalidJSON, err)
		}
		return r, err
	}
	r.Event = e
	return r, nil
}

// truncate cuts s to at most n bytes of valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
