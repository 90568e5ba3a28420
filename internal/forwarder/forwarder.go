package forwarder

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// Forwarder pushes the events of one durable consumer of COMMS_RESOLVED to
// the sink. Replicas with the same Config.Durable share it; the server pins
// it to one of them at a time (see the package documentation).
type Forwarder struct {
	cfg    Config
	js     jetstream.JetStream
	stream jetstream.Stream
	cons   jetstream.Consumer
	sink   *sink
	log    *slog.Logger
	m      *metrics
	wanted map[string]bool // status tokens forwarded; nil: all
	sem    chan struct{}   // one slot per concurrent delivery

	mu           sync.Mutex
	keys         map[string]*keyQueue
	placeholders int    // entries without a delivery, in all queues
	naks         uint64 // retries nak'd so far (takeover.go)
	acked        ackedRing
	stopping     bool

	// pin is the Nats-Pin-Id of the last delivery; touched by the consume
	// callback only.
	pin    string
	pinned bool

	cc         jetstream.ConsumeContext
	wg         sync.WaitGroup // key runners
	bg         sync.WaitGroup // keep-alive and floor loops
	bgCancel   context.CancelFunc
	sendCtx    context.Context // cancelled when Stop's deadline is near
	sendCancel context.CancelFunc
	wake       chan struct{} // asks the floor loop to look now
}

// New checks cfg, and creates the durable consumer or updates it to cfg.
// Start it with Start.
func New(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (*Forwarder, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	sk, err := newSink(cfg.Sink, cfg.Token, cfg.HTTPClient, cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	stream, err := js.Stream(ctx, events.StreamResolved)
	if err != nil {
		return nil, fmt.Errorf("forwarder: stream %s: %w", events.StreamResolved, err)
	}
	f := &Forwarder{
		cfg: cfg, js: js, stream: stream, sink: sk,
		log:  log.With("worker", cfg.WorkerID, "durable", cfg.Durable),
		m:    newMetrics(cfg.Registerer),
		sem:  make(chan struct{}, cfg.Concurrency),
		keys: make(map[string]*keyQueue),
		wake: make(chan struct{}, 1),
	}
	if len(cfg.Statuses) > 0 {
		f.wanted = make(map[string]bool)
		for _, s := range cfg.Statuses {
			f.wanted[s.Token()] = true
		}
	}
	f.cons, err = js.CreateOrUpdateConsumer(ctx, events.StreamResolved, f.ConsumerConfig())
	if err != nil {
		return nil, fmt.Errorf("forwarder: consumer %s: %w", cfg.Durable, err)
	}
	f.sendCtx, f.sendCancel = context.WithCancel(context.Background())
	return f, nil
}

// ConsumerConfig returns the durable's configuration. A new durable starts
// with the events stored after its creation, so a first deploy does not
// replay days of events at the sink; it then resumes where it stopped.
func (f *Forwarder) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        f.cfg.Durable,
		Description:    "commsops forwarder: resolved events to an HTTP sink",
		FilterSubjects: FilterSubjects(f.cfg.Statuses),
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        f.cfg.AckWait,
		MaxDeliver:     -1, // dead-lettered at cfg.MaxDeliver by the forwarder itself
		MaxAckPending:  max(256, 8*f.cfg.Concurrency),
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{PriorityGroup},
		PinnedTTL:      f.cfg.PinnedTTL,
	}
}

// Start pulls the durable in the priority group (the server delivers only
// while this replica holds the pin) until Stop.
func (f *Forwarder) Start(ctx context.Context) error {
	cc, err := f.cons.Consume(f.dispatch,
		jetstream.PullPriorityGroup(PriorityGroup),
		jetstream.PullMaxMessages(max(64, 2*f.cfg.Concurrency)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			switch {
			case errors.Is(err, jetstream.ErrNoHeartbeat), errors.Is(err, jetstream.ErrPinIDMismatch):
				f.log.Debug("consume notice", "err", err)
			default:
				f.log.Warn("consume error", "err", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("forwarder: consume %s: %w", f.cfg.Durable, err)
	}
	f.cc = cc
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.bgCancel = cancel
	f.bg.Add(2)
	go func() { defer f.bg.Done(); f.keepAlive(bctx) }()
	go func() { defer f.bg.Done(); f.watchFloor(bctx) }()
	f.log.Info("forwarder started", "filters", strings.Join(FilterSubjects(f.cfg.Statuses), ","),
		"concurrency", f.cfg.Concurrency, "max_deliver", f.cfg.MaxDeliver, "timeout", f.cfg.Timeout)
	return nil
}

// dispatch queues a delivery behind the others of its key. Called by the
// consume loop, one delivery at a time.
func (f *Forwarder) dispatch(msg jetstream.Msg) {
	f.mu.Lock()
	stopping := f.stopping
	f.mu.Unlock()
	if stopping {
		_ = msg.Nak() // released: the next holder of the pin gets it at once
		return
	}
	meta, err := msg.Metadata()
	if err != nil {
		f.log.Error("delivery without metadata", "subject", msg.Subject(), "err", err)
		return
	}
	seq := meta.Sequence.Stream
	key, _, ok := parseSubject(msg.Subject())
	if !ok {
		f.deadLetter(msg, "unknown", meta, fmt.Errorf("%w: subject %q is not comms.resolved.<key>.<status>", ErrUndecodable, msg.Subject()))
		return
	}
	if pin := msg.Headers().Get("Nats-Pin-Id"); !f.pinned || pin != f.pin {
		if err := f.takeover(seq, pin); err != nil {
			// Left for redelivery; the next delivery takes over again.
			f.log.Warn("takeover failed; releasing the delivery", "stream_seq", seq, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		f.pin, f.pinned = pin, true
	}
	f.enqueue(key, seq, msg)
}

// parseSubject splits "comms.resolved.<key>.<status>".
func parseSubject(subject string) (key, status string, ok bool) {
	rest, ok := strings.CutPrefix(subject, events.SubjectResolvedPrefix)
	if !ok {
		return "", "", false
	}
	key, status, ok = strings.Cut(rest, ".")
	if !ok || key == "" || status == "" || strings.Contains(status, ".") {
		return "", "", false
	}
	return key, status, true
}

// deliver sends e's event to the sink and settles its delivery: acked
// (2xx, or dead-lettered), or nak'd for a retry or a release, in which case
// it reports true: the key then waits for the redelivery.
func (f *Forwarder) deliver(key string, e *entry) (retry bool) {
	msg := e.msg
	meta, err := msg.Metadata()
	if err != nil {
		f.log.Error("delivery without metadata", "key", key, "err", err)
		return true
	}
	log := func() *slog.Logger {
		return f.log.With("key", key, "stream_seq", e.seq, "deliveries", meta.NumDelivered)
	}
	ev, err := events.DecodeMsg(msg.Headers(), msg.Data())
	if err != nil {
		return f.deadLetter(msg, key, meta, fmt.Errorf("%w: %w", ErrUndecodable, err), f.takeDups(e)...)
	}
	select {
	case f.sem <- struct{}{}:
	case <-f.sendCtx.Done():
		f.release(e)
		return true
	}
	f.mu.Lock()
	stopping := f.stopping
	f.mu.Unlock()
	if stopping {
		<-f.sem
		f.release(e)
		return true
	}
	ctx, cancel := context.WithTimeout(f.sendCtx, f.cfg.Timeout)
	start := time.Now()
	a := f.sink.send(ctx, &ev, start)
	took := time.Since(start)
	cancel()
	<-f.sem
	if a.err == nil {
		f.m.latency.WithLabelValues("ok").Observe(took.Seconds())
		f.m.delivered.Inc() // before the ack: once acked, the event is settled for all to see
		f.ack(e, log)
		return false
	}
	f.m.latency.WithLabelValues("failed").Observe(took.Seconds())
	if a.status == 0 && f.sendCtx.Err() != nil {
		f.release(e) // cut off by the shutdown deadline
		return true
	}
	if meta.NumDelivered >= uint64(f.cfg.MaxDeliver) {
		return f.deadLetter(msg, key, meta, a.err, f.takeDups(e)...)
	}
	d, reason := f.cfg.retryDelay(a, meta.NumDelivered)
	if err := msg.NakWithDelay(d); err != nil {
		log().Warn("nak failed; the event is redelivered after the ack wait", "err", err)
	}
	f.m.retried.WithLabelValues(reason).Inc()
	log().Warn("delivery failed; retrying", "status", a.status, "err", a.err, "retry_in", d)
	return true
}

// ack acknowledges e's delivery and waits for the server to have it, so
// that the event cannot come back behind the key's next one; it tries three
// times.
func (f *Forwarder) ack(e *entry, log func() *slog.Logger) {
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = e.msg.DoubleAck(ctx)
		cancel()
		if err == nil || errors.Is(err, nats.ErrConnectionClosed) {
			break
		}
	}
	if err != nil {
		log().Warn("ack failed; the sink may get the event again", "err", err)
	} else {
		f.mu.Lock()
		f.acked.add(e.seq)
		f.mu.Unlock()
	}
	for _, d := range f.takeDups(e) {
		_ = d.Ack()
	}
}

// release naks e's delivery without delay: the shutdown gives it to the
// next holder of the pin.
func (f *Forwarder) release(e *entry) {
	_ = e.msg.Nak()
	for _, d := range f.takeDups(e) {
		_ = d.Nak()
	}
}

// takeDups returns and forgets the later deliveries of e's event that came
// while it was being delivered (enqueue adds them under f.mu).
func (f *Forwarder) takeDups(e *entry) []jetstream.Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := e.dups
	e.dups = nil
	return d
}

// Stop stops pulling, releases (naks) the deliveries held behind others,
// lets the deliveries in flight finish until shortly before ctx ends and
// releases those still running then, flushes the acks and unpins the
// durable so that a standby replica takes it now. It returns ctx's error if
// it ends first. Call it once, after Start.
func (f *Forwarder) Stop(ctx context.Context) error {
	f.mu.Lock()
	f.stopping = true
	f.mu.Unlock()
	// The last deliveries in flight get the time left, less a margin to
	// release them and flush.
	if dl, ok := ctx.Deadline(); ok {
		margin := min(max(time.Until(dl)/10, 250*time.Millisecond), 2*time.Second)
		t := time.AfterFunc(time.Until(dl)-margin, f.sendCancel)
		defer t.Stop()
	}
	stopCtx := context.AfterFunc(ctx, f.sendCancel)
	defer stopCtx()

	// First stop pulling (what the client buffered meanwhile is nak'd by
	// dispatch): a release made while this replica still pulls would come
	// straight back to it.
	pulled := make(chan struct{})
	go func() {
		if f.cc != nil {
			f.cc.Drain()
			<-f.cc.Closed()
		}
		close(pulled)
	}()
	var err error
	select {
	case <-pulled:
	case <-ctx.Done():
		err = fmt.Errorf("forwarder: stop: %w", ctx.Err())
	}

	// Then release what waits behind others, in stream order, so that the
	// next holder of the pin gets it at once and in that order.
	f.mu.Lock()
	held, _ := f.heldLocked(0)
	for key, q := range f.keys {
		q.items = slices.DeleteFunc(q.items, func(e *entry) bool {
			if e.msg == nil {
				f.placeholders--
			}
			return !e.busy
		})
		if len(q.items) == 0 && !q.running {
			delete(f.keys, key)
		}
	}
	f.mu.Unlock()
	slices.SortFunc(held, func(a, b jetstream.Msg) int {
		ma, _ := a.Metadata()
		mb, _ := b.Metadata()
		if ma == nil || mb == nil {
			return 0
		}
		return cmp.Compare(ma.Sequence.Stream, mb.Sequence.Stream)
	})
	for _, m := range held {
		_ = m.Nak()
	}

	// Then the deliveries in flight finish, or are released at the margin.
	delivered := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(delivered)
	}()
	if err == nil {
		select {
		case <-delivered:
		case <-ctx.Done():
			err = fmt.Errorf("forwarder: stop: %w", ctx.Err())
		}
	}
	if f.bgCancel != nil {
		f.bgCancel()
	}
	f.bg.Wait()
	if nc := f.js.Conn(); nc != nil && !nc.IsClosed() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = nc.FlushWithContext(fctx)
		cancel()
	}
	if f.pinned && err == nil {
		if uerr := f.stream.UnpinConsumer(ctx, f.cfg.Durable, PriorityGroup); uerr != nil {
			f.log.Debug("unpin failed", "err", uerr)
		}
	}
	f.sendCancel()
	f.log.Info("forwarder stopped", "released", len(held))
	return err
}
