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

// Errors of the Subscriber, beside those of errors.go. Test with errors.Is.
var (
	// ErrInvalidOption: a constructor or call was given an option with an
	// impossible value, or two options that contradict each other; the
	// wrapped message names the option.
	ErrInvalidOption = errors.New("events: invalid option")
	// ErrAlreadyRunning: Run was called while an earlier Run of the same
	// Subscriber had not returned. Run several Subscribers (with the same
	// Durable) to share the work instead.
	ErrAlreadyRunning = errors.New("events: subscriber already running")
	// ErrUndecodable is reported through OnError, wrapped with the cause (an
	// ErrNotCloudEvent, ErrBadHeaderEncoding, ErrInvalidJSON or ErrInvalidPayload) and the
	// message's subject and stream sequence, for a COMMS_RESOLVED message that
	// is not a resolved operation event. Run terminates it (it is never
	// delivered to this consumer again) and goes on with the next.
	ErrUndecodable = errors.New("events: undecodable resolved event")
	// ErrHandlerPanic is reported through OnError when the handler panicked.
	// The event is then treated as if the handler had returned this error: it
	// is redelivered after the backoff.
	ErrHandlerPanic = errors.New("events: handler panicked")
	// ErrDeliveriesExhausted is reported through OnError, wrapping the
	// handler's error, when the handler failed on the MaxDeliver-th delivery of
	// an event: the server will not deliver it to this consumer again. The
	// event stays in COMMS_RESOLVED; replay it with StartAtSequence.
	ErrDeliveriesExhausted = errors.New("events: handler failed on the last allowed delivery")
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
// invalid clientContext (see ValidateClientContext) is refused: it would never
// match, and "" must not mean "all".
func FilterClientContext(clientContexts ...string) SubscriberOption {
	return func(c *subscriberConfig) error {
		if len(clientContexts) == 0 {
			return fmt.Errorf("%w: FilterClientContext needs at least one clientContext", ErrInvalidOption)
		}
		for _, cc := range clientContexts {
			if cc == "" {
				return fmt.Errorf("%w: FilterClientContext: empty clientContext", ErrInvalidOption)
			}
			if err := ValidateClientContext(cc); err != nil {
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
// one per (clientContext, status) pair, as resolvedFilter builds them; none when
// no filter option was given (every event).
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
