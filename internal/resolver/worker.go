package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/commsops/commsops/internal/tracing"
	"github.com/commsops/commsops/pkg/events"
)

// PriorityGroup is the priority group every resolver consumer pins workers in.
const PriorityGroup = "resolver"

// ConsumerName returns the durable consumer of COMMS_IN partition p.
func ConsumerName(p int) string { return "resolver-" + strconv.Itoa(p) }

// Worker resolves the operation evidence of every COMMS_IN partition it is
// pinned to. Several workers may run against one stream: JetStream pins each
// partition's consumer to one of them and moves it when that one stops
// pulling; state writes are fenced by KV revision so a worker that lost a
// partition cannot corrupt it.
type Worker struct {
	cfg        Config
	js         jetstream.JetStream
	kv         jetstream.KeyValue
	in         jetstream.Stream
	resolved   jetstream.Stream
	partitions int
	log        *slog.Logger
	m          *metrics

	mu      sync.Mutex
	keys    map[string]*keyQueue // keys with messages queued or being processed
	cache   map[string]*cachedState
	batches map[string]*batch // keys with applied, uncommitted messages
	closing bool              // stopping: commit at once
	// abandoned holds the keys whose work was given up while stopping: none
	// of their messages is processed or acked any more (retry.go).
	abandoned map[string]bool
	wg        sync.WaitGroup // key goroutines and armed commit timers

	ccMu      sync.Mutex
	ccs       []jetstream.ConsumeContext // per partition; nil while not pulling
	cooldown  []time.Time                // per partition: no pulling before
	balanceWG sync.WaitGroup
	cons      []jetstream.Consumer
	lastSeen  []atomic.Int64 // per partition: unix nanos of the last delivery
	pinMu     sync.Mutex
	pins      []string // per partition: pin id of the last delivery
	pinsSeen  []bool
	stopCtx   context.Context // cancelled when the drain deadline passes
	stopFn    context.CancelFunc
	// stopReq is closed when Stop begins: failing work is abandoned from
	// then on instead of waited out, and its key with it (retry.go).
	stopReq     chan struct{}
	balanceCtx  context.Context
	balanceStop context.CancelFunc
}

type keyQueue struct {
	items   []item
	running bool
}

// item is one unit of a key's work: a delivered message, (msg nil) a
// catch-up of a message delivered to an earlier owner and not yet acked, or
// (commit) the delayed commit of the key's batch.
type item struct {
	msg     jetstream.Msg
	ev      *Evidence
	subject string
	commit  bool
}

// cachedState is a key's committed state (at KV revision rev) with its batch
// applied.
type cachedState struct {
	st  *KeyState
	rev uint64
	// published holds the ids of the key's events stored after the committed
	// ResolvedSeq, read when a repeated message first needs them; nil: not read.
	published map[string]bool
}

// NewWorker returns a Worker over the streams and bucket that streams.Ensure
// made; partitions is COMMS_IN's partition count. Start it with Start.
func NewWorker(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, partitions int, cfg Config, log *slog.Logger) (*Worker, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if partitions < 1 {
		return nil, fmt.Errorf("%w: %d partitions", ErrConfig, partitions)
	}
	resolved, err := js.Stream(ctx, events.StreamResolved)
	if err != nil {
		return nil, fmt.Errorf("resolver: stream %s: %w", events.StreamResolved, err)
	}
	in, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		return nil, fmt.Errorf("resolver: stream %s: %w", events.StreamIn, err)
	}
	stopCtx, stopFn := context.WithCancel(context.Background())
	return &Worker{
		cfg: cfg, js: js, kv: kv, in: in, resolved: resolved, partitions: partitions,
		log:       log.With("worker", cfg.WorkerID),
		m:         newMetrics(cfg.Registerer),
		keys:      make(map[string]*keyQueue),
		cons:      make([]jetstream.Consumer, partitions),
		ccs:       make([]jetstream.ConsumeContext, partitions),
		cooldown:  make([]time.Time, partitions),
		lastSeen:  make([]atomic.Int64, partitions),
		pins:      make([]string, partitions),
		pinsSeen:  make([]bool, partitions),
		cache:     make(map[string]*cachedState),
		batches:   make(map[string]*batch),
		abandoned: make(map[string]bool),
		stopCtx:   stopCtx, stopFn: stopFn, stopReq: make(chan struct{}),
	}, nil
}

// ConsumerConfig returns the durable consumer configuration of partition p.
func (w *Worker) ConsumerConfig(p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        ConsumerName(p),
		Description:    "commsops resolver, COMMS_IN partition " + strconv.Itoa(p),
		FilterSubject:  events.InFilter(p, events.KindOperation),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        w.cfg.AckWait,
		MaxDeliver:     -1, // the worker dead-letters at cfg.MaxDeliver itself
		MaxAckPending:  w.cfg.MaxAckPending,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{PriorityGroup},
		PinnedTTL:      w.cfg.PinnedTTL,
	}
}

// Start creates or updates the partition consumers and starts pulling them
// all in the resolver priority group, and (with cfg.Members) the balancing
// loop. It returns once every consumer is pulling; processing goes on in the
// background until Stop.
func (w *Worker) Start(ctx context.Context) error {
	for p := 0; p < w.partitions; p++ {
		cons, err := w.js.CreateOrUpdateConsumer(ctx, events.StreamIn, w.ConsumerConfig(p))
		if err != nil {
			w.stopConsumers()
			return fmt.Errorf("resolver: consumer %s: %w", ConsumerName(p), err)
		}
		w.cons[p] = cons
	}
	for p := 0; p < w.partitions; p++ {
		if err := w.startConsume(ctx, p); err != nil {
			w.stopConsumers()
			return err
		}
	}
	w.balanceCtx, w.balanceStop = context.WithCancel(w.stopCtx)
	if w.cfg.Members != nil {
		w.balanceWG.Add(1)
		go func() {
			defer w.balanceWG.Done()
			w.balance(w.balanceCtx)
		}()
	}
	if w.cfg.Registerer != nil {
		w.balanceWG.Add(1)
		go func() {
			defer w.balanceWG.Done()
			w.watchLag(w.balanceCtx, 5*time.Second)
		}()
	}
	w.log.Info("resolver started", "partitions", w.partitions, "ack_wait", w.cfg.AckWait, "balancing", w.cfg.Members != nil)
	return nil
}

// startConsume starts pulling partition p.
func (w *Worker) startConsume(_ context.Context, p int) error {
	cc, err := w.cons[p].Consume(w.dispatch,
		jetstream.PullPriorityGroup(PriorityGroup),
		jetstream.PullMaxMessages(min(256, w.cfg.MaxAckPending)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				w.log.Warn("consume error", "consumer", ConsumerName(p), "err", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("resolver: consume %s: %w", ConsumerName(p), err)
	}
	w.ccMu.Lock()
	w.ccs[p] = cc
	w.ccMu.Unlock()
	return nil
}

// Stop drains: it stops pulling, finishes the messages already received and
// returns when they are acked, or soon after ctx ends (unfinished messages
// are then redelivered after AckWait, or caught up at once by the next
// owner). Work that fails meanwhile is not waited out: its key is abandoned,
// its messages and those queued behind it left unacked, so the next owner
// applies them in order. Safe to call once.
func (w *Worker) Stop(ctx context.Context) error {
	close(w.stopReq)
	// Leaving the group and draining the consumers wait for the server:
	// bounded by ctx (past it, cancelling stopCtx ends the balance loop).
	drained := make(chan struct{})
	go func() {
		w.stopBalance()
		w.leave(ctx)
		w.stopConsumers()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		w.stopFn()
	}
	w.commitAll(true)
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		w.unpin(ctx)
		w.log.Info("resolver drained")
		return nil
	case <-ctx.Done():
		w.stopFn()
		<-done
		return fmt.Errorf("resolver: drain: %w", ctx.Err())
	}
}

func (w *Worker) stopConsumers() {
	w.ccMu.Lock()
	ccs := slices.Clone(w.ccs)
	for p := range w.ccs {
		w.ccs[p] = nil
		w.cooldown[p] = time.Now().Add(24 * time.Hour)
	}
	w.ccMu.Unlock()
	for _, cc := range ccs {
		if cc != nil {
			cc.Drain()
		}
	}
	for _, cc := range ccs {
		if cc != nil {
			<-cc.Closed()
		}
	}
}

// stopBalance ends the balancing loop; it cancels nothing else.
func (w *Worker) stopBalance() {
	if w.balanceStop != nil {
		w.balanceStop()
	}
	w.balanceWG.Wait()
}

// unpin releases the partitions this worker consumed recently, so that
// another worker takes them over now rather than after PinnedTTL. Unpinning a
// partition another worker holds only makes it pin again: safe, because a
// worker that (re)gains a partition catches up first.
func (w *Worker) unpin(ctx context.Context) {
	now := time.Now().UnixNano()
	for p := range w.partitions {
		if now-w.lastSeen[p].Load() > int64(w.cfg.PinnedTTL) {
			continue
		}
		if err := w.in.UnpinConsumer(ctx, ConsumerName(p), PriorityGroup); err != nil {
			w.log.Debug("unpin failed", "partition", p, "err", err)
		}
	}
}

// dispatch queues a message behind the others of its key, starting the key's
// goroutine when none runs. Called by the consume loops, in stream order per
// partition.
func (w *Worker) dispatch(msg jetstream.Msg) {
	in, err := events.ParseStoredInSubject(msg.Subject())
	if err != nil || in.Partition < 0 || in.Partition >= w.partitions {
		w.deadLetter(msg, "", fmt.Errorf("%w: subject %q is not a partition of this stream", ErrPoison, msg.Subject()))
		return
	}
	w.lastSeen[in.Partition].Store(time.Now().UnixNano())
	if w.acquired(in.Partition, msg.Headers().Get("Nats-Pin-Id")) {
		// The partition was just pinned to this worker (a new pin id): it may
		// have been another worker's, or this one's under an older pin, until
		// now. Queue what was left unacked first. A fresh first delivery
		// bounds that range: everything from it on comes to this worker anyway.
		below := uint64(0)
		if meta, err := msg.Metadata(); err == nil && meta.NumDelivered == 1 {
			below = meta.Sequence.Stream
		}
		// Cached states may be stale now: another worker may have written
		// keys of p meanwhile, and events are published before the state
		// write that would find out. Every key is rebuilt from KV (and its
		// own batch) on its next message.
		w.dropCache()
		if !w.catchUp(in.Partition, below, msg) {
			// Not caught up (stopping, or failing for long): leave this
			// message unacked, and catch up again on the next delivery.
			w.pinMu.Lock()
			w.pinsSeen[in.Partition] = false
			w.pinMu.Unlock()
			return
		}
	}
	w.enqueue(in.Key, item{msg: msg})
}

// acquired reports whether a delivery under pin id starts a new ownership of
// partition p: the first delivery, or the first under a new pin.
func (w *Worker) acquired(p int, pin string) bool {
	w.pinMu.Lock()
	defer w.pinMu.Unlock()
	if w.pins[p] == pin && w.pinsSeen[p] {
		return false
	}
	w.pins[p], w.pinsSeen[p] = pin, true
	return true
}

func (w *Worker) enqueue(key string, it item) {
	w.mu.Lock()
	w.enqueueLocked(key, it)
	w.mu.Unlock()
}

// enqueueLocked is enqueue with w.mu held. Work for an abandoned key is
// dropped (its messages left unacked).
func (w *Worker) enqueueLocked(key string, it item) {
	if w.abandoned[key] {
		return
	}
	q := w.keys[key]
	if q == nil {
		q = &keyQueue{}
		w.keys[key] = q
	}
	q.items = append(q.items, it)
	if !q.running {
		q.running = true
		w.wg.Add(1)
		go w.runKey(key, q)
	}
}

func (w *Worker) runKey(key string, q *keyQueue) {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		empty := len(q.items) == 0
		if w.commitDue(key, empty) {
			w.mu.Unlock()
			w.commit(key)
			continue
		}
		if empty {
			q.running = false
			delete(w.keys, key)
			w.mu.Unlock()
			return
		}
		it := q.items[0]
		q.items = q.items[1:]
		w.mu.Unlock()
		switch {
		case it.commit:
			w.commit(key)
		case it.msg == nil:
			w.handleCatchUp(key, it.subject, it.ev)
		default:
			w.handle(key, it.msg)
		}
	}
}

// handle processes one message to the end: applied and in the key's batch
// (acked when the batch is committed), acked as a duplicate, dead-lettered
// and terminated, or left for redelivery when it can never be processed (or
// the worker stops).
func (w *Worker) handle(key string, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		w.log.Error("message without metadata", "key", key, "err", err)
		return
	}
	seq := meta.Sequence.Stream
	ev, decodeErr := DecodeEvidence(msg.Headers(), msg.Data(), seq)
	if decodeErr != nil {
		w.deadLetter(msg, key, decodeErr)
		return
	}
	// A span per message, child of the trace the evidence was ingested in; the
	// resolved events it decides carry this span's context.
	sctx, span := tracing.Tracer().Start(tracing.FromTraceParent(w.stopCtx, ev.TraceParent), "resolve",
		trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	ev.TraceParent = tracing.TraceParent(sctx, ev.TraceParent)
	// The logger is built only when something is logged.
	log := sync.OnceValue(func() *slog.Logger {
		return w.log.With("key", key, "stream_seq", seq, "client_context", ev.ClientContext, "operation_id", ev.OpID)
	})
	// Failures that can pass are waited out in place (retry.go).
	var o outcome
	err = w.untilDone(key, func() []jetstream.Msg { return []jetstream.Msg{msg} }, "processing", log, func(attempt int) error {
		// A redelivery, or a retry, may find its events already published.
		repeat := meta.NumDelivered > 1 || attempt > 1
		var err error
		o, err = w.process(w.stopCtx, key, msg.Subject(), ev, repeat)
		return err
	})
	switch {
	case err == nil:
		w.settle(key, pendingEntry{msg: msg, ev: ev, subject: msg.Subject()}, o)
	case permanent(err):
		w.giveUp(msg, key, int(meta.NumDelivered), err, log())
	default:
		w.abandon(key) // stopping: left unacked, for the next owner to catch up in order
	}
}

// process applies one piece of evidence to its key's cached state and
// publishes what it decides (see apply); the state is written later, by the
// key's commit. On error the cached state is dropped, so the next attempt
// rebuilds it.
func (w *Worker) process(ctx context.Context, key, subject string, ev *Evidence, repeat bool) (outcome, error) {
	c, err := w.state(ctx, key)
	if err != nil {
		return 0, err
	}
	o, err := w.apply(ctx, c, subject, ev, repeat)
	if err != nil {
		w.forget(key) // rebuilt from KV and the batch on the retry
		return 0, err
	}
	w.m.messages.WithLabelValues(o.String()).Inc()
	return o, nil
}

// state returns the key's cached state. On a miss it loads the committed
// state from KV and applies the key's batch again (publishing what the first
// application did not manage to).
func (w *Worker) state(ctx context.Context, key string) (*cachedState, error) {
	w.mu.Lock()
	c := w.cache[key]
	var pending []pendingEntry
	if b := w.batches[key]; c == nil && b != nil {
		pending = slices.Clone(b.entries)
	}
	w.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c = &cachedState{st: &KeyState{Key: key}}
	entry, err := w.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return nil, fmt.Errorf("resolver: load state: %w", err)
	default:
		if err := unmarshalState(entry.Value(), c.st); err != nil {
			return nil, fmt.Errorf("%w: decode state of %s: %w", errNoRetry, key, err)
		}
		c.rev = entry.Revision()
		// A state written by an earlier version may hold an outbox.
		if err := w.flush(ctx, c.st); err != nil {
			return nil, err
		}
	}
	for _, e := range pending {
		if _, err := w.apply(ctx, c, e.subject, e.ev, true); err != nil {
			return nil, err
		}
	}
	w.mu.Lock()
	if len(w.cache) >= w.cfg.CacheSize {
		for k := range w.cache {
			_, busy := w.keys[k]
			if _, dirty := w.batches[k]; !busy && !dirty {
				delete(w.cache, k)
				break
			}
		}
	}
	w.cache[key] = c
	w.mu.Unlock()
	return c, nil
}

// dropCache forgets every cached state (see state for the rebuild).
func (w *Worker) dropCache() {
	w.mu.Lock()
	clear(w.cache)
	w.mu.Unlock()
}

func (w *Worker) forget(key string) {
	w.mu.Lock()
	delete(w.cache, key)
	w.mu.Unlock()
}

// save writes the state with a compare-and-swap on rev (0: the key must not
// exist) and returns the new revision, or ErrFenced. A state whose operations
// are all terminal is written with a TTL of cfg.Retention, so it expires
// unless new evidence reopens the key (the next write carries no TTL).
//
// The write is the KV bucket's own compare-and-swap (Nats-Expected-Last-
// Subject-Sequence on the key's subject), sent as an asynchronous publish
// and awaited: the same as KeyValue.Update and Create without a request's
// per-call reply subscription and timer. A key that must not exist but has
// a delete marker (removed with the KV API) is left to KeyValue.Create,
// which writes over the marker.
func (w *Worker) save(ctx context.Context, key string, st *KeyState, rev uint64) (uint64, error) {
	b, err := marshalState(st)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNoRetry, err)
	}
	var ttl time.Duration
	if !st.Open() {
		ttl = w.cfg.Retention
	}
	newRev, err := w.casPublish(ctx, key, b, rev, ttl)
	if rev == 0 && isCASConflict(err) {
		var opts []jetstream.KVCreateOpt
		if ttl > 0 {
			opts = append(opts, jetstream.KeyTTL(ttl))
		}
		newRev, err = w.kv.Create(ctx, key, b, opts...)
	}
	if isCASConflict(err) {
		return 0, fmt.Errorf("%w: %s: %w", ErrFenced, key, err)
	}
	if err != nil {
		return 0, fmt.Errorf("resolver: save state: %w", err)
	}
	return newRev, nil
}

// casPublish writes data to key's subject in the state bucket when the
// subject's last sequence is rev, and returns the new one. It waits at most
// stateWriteTimeout for the ack. The subject is the bucket's own
// ("$KV.<bucket>.<key>"): the bucket is streams.Ensure's, in the worker's
// account and JetStream domain, never a mirror.
func (w *Worker) casPublish(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (uint64, error) {
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(rev)}
	if ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(ttl))
	}
	f, err := w.js.PublishMsgAsync(&nats.Msg{Subject: stateSubjectPrefix + key, Data: data}, opts...)
	if err != nil {
		return 0, err
	}
	timeout := time.NewTimer(stateWriteTimeout)
	defer timeout.Stop()
	select {
	case ack := <-f.Ok():
		return ack.Sequence, nil
	case err := <-f.Err():
		return 0, err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-timeout.C:
		return 0, fmt.Errorf("%w: no ack within %v", context.DeadlineExceeded, stateWriteTimeout)
	}
}

// stateWriteTimeout bounds the wait for a state write's ack (as a
// synchronous publish's default timeout would).
const stateWriteTimeout = 5 * time.Second

// stateSubjectPrefix prefixes a key's subject in the state bucket.
const stateSubjectPrefix = "$KV." + events.BucketState + "."

func isCASConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
