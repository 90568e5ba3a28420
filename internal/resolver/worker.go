package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/jsutil"
	"github.com/commsops/commsops/internal/subjects"
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
// partition cannot corrupt it. A Worker only wires its parts (see doc.go)
// and runs their lifecycle; it holds no lock of its own.
type Worker struct {
	cfg        Config
	js         jetstream.JetStream
	partitions int
	log        *slog.Logger
	m          *metrics

	sched   *keyScheduler[item] // one goroutine per key with work
	store   *stateStore         // states: load, cache, fenced save
	batches *batches            // applied, uncommitted messages per key
	pub     *eventPublisher     // resolved events and stall checks
	parts   *ownership          // partitions: pulling, pins, balance
	proc    *processor          // the message path, driving the parts above
	// answering answers liveness probes (see liveness.go); nil without
	// cfg.Members.
	answering *nats.Subscription

	// stopBegun is cancelled when Stop begins: the background loops end and
	// failing work is abandoned instead of waited out. stopCtx (its parent)
	// is cancelled when the drain deadline passes: work in flight ends.
	stopBegun context.Context
	begin     context.CancelFunc
	stopCtx   context.Context
	stopFn    context.CancelFunc
	bg        sync.WaitGroup // the balance and lag loops
}

// NewWorker returns a Worker over the streams and bucket that streams.Ensure
// made; partitions is COMMS_IN's partition count. Start it with Start. The
// stream lookups wait out transient JetStream failures until ctx ends.
func NewWorker(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, partitions int, cfg Config, log *slog.Logger) (*Worker, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if partitions < 1 {
		return nil, fmt.Errorf("%w: %d partitions", ErrConfig, partitions)
	}
	log = log.With("worker", cfg.WorkerID)
	var resolved, in jetstream.Stream
	for _, s := range []struct {
		name string
		dst  *jetstream.Stream
	}{{events.StreamResolved, &resolved}, {events.StreamIn, &in}} {
		err := jsutil.Startup{Name: "stream " + s.name, Log: log}.Run(ctx, func(ctx context.Context) error {
			var err error
			*s.dst, err = js.Stream(ctx, s.name)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("resolver: stream %s: %w", s.name, err)
		}
	}
	w := &Worker{cfg: cfg, js: js, partitions: partitions, log: log, m: newMetrics(cfg.Registerer)}
	w.stopCtx, w.stopFn = context.WithCancel(context.Background())
	w.stopBegun, w.begin = context.WithCancel(w.stopCtx)
	// The processor and the scheduler refer to each other: the processor is
	// made first and handed its parts once they exist.
	w.proc = &processor{cfg: cfg, js: js, partitions: partitions, log: log, m: w.m,
		stopBegun: w.stopBegun, stopCtx: w.stopCtx}
	w.sched = newKeyScheduler(w.proc.run, w.proc.checkpoint)
	w.batches = newBatches(cfg.CommitDelay, func(key string, d time.Duration) func() bool {
		return w.sched.after(key, d, item{commit: true})
	})
	w.store = newStateStore(js, kv, cfg.Retention, cfg.CacheSize, func(key string) bool {
		return w.sched.busy(key) || w.batches.has(key)
	})
	w.pub = &eventPublisher{js: js, resolved: resolved, m: w.m, log: log}
	w.parts = newOwnership(partitions, cfg, in, log)
	w.parts.pull = w.pull
	w.parts.catchUp = w.proc.catchUpTakenOver
	w.parts.nc = js.Conn()
	w.proc.sched, w.proc.store, w.proc.batches, w.proc.pub, w.proc.parts = w.sched, w.store, w.batches, w.pub, w.parts
	return w, nil
}

// ConsumerConfig returns the durable consumer configuration of partition p.
func (w *Worker) ConsumerConfig(p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        ConsumerName(p),
		Description:    "commsops resolver, COMMS_IN partition " + strconv.Itoa(p),
		FilterSubject:  subjects.InFilter(p, string(graphwire.KindOperation)),
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

// Start creates or updates the partition consumers, waiting out transient
// JetStream failures until ctx ends, and returns once it pulls them all (and,
// with cfg.Members, balances). Processing goes on until Stop.
func (w *Worker) Start(ctx context.Context) error {
	for p := 0; p < w.partitions; p++ {
		var cons jetstream.Consumer
		err := jsutil.Startup{Name: "consumer " + ConsumerName(p), Log: w.log}.Run(ctx, func(ctx context.Context) error {
			var err error
			cons, err = w.js.CreateOrUpdateConsumer(ctx, events.StreamIn, w.ConsumerConfig(p))
			return err
		})
		if err != nil {
			w.parts.stopAll()
			return fmt.Errorf("resolver: consumer %s: %w", ConsumerName(p), err)
		}
		w.parts.cons[p] = cons
	}
	for p := 0; p < w.partitions; p++ {
		if err := w.parts.resume(p); err != nil {
			w.parts.stopAll()
			return err
		}
	}
	if w.cfg.Members != nil {
		sub, err := w.parts.answer()
		if err != nil {
			w.parts.stopAll()
			return fmt.Errorf("resolver: answer liveness probes: %w", err)
		}
		w.answering = sub
		w.bg.Go(func() { w.parts.balance(w.stopBegun) })
		w.bg.Go(func() { w.parts.watchPeers(w.stopBegun) })
	}
	if w.cfg.Registerer != nil {
		w.bg.Go(func() { w.m.watchLag(w.stopBegun, w.parts, w.partitions, 5*time.Second) })
	}
	w.log.Info("resolver started", "partitions", w.partitions, "ack_wait", w.cfg.AckWait, "balancing", w.cfg.Members != nil)
	return nil
}

// pull starts pulling partition p's consumer into the processor's dispatch.
func (w *Worker) pull(p int) (jetstream.ConsumeContext, error) {
	cc, err := w.parts.consumer(p).Consume(w.proc.dispatch,
		jetstream.PullPriorityGroup(PriorityGroup),
		jetstream.PullMaxMessages(min(256, w.cfg.MaxAckPending)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				w.log.Warn("consume error", "consumer", ConsumerName(p), "err", err)
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("resolver: consume %s: %w", ConsumerName(p), err)
	}
	return cc, nil
}

// Stop drains: it stops pulling, finishes and acks the messages already
// received, and returns nil once they are, or an error soon after ctx ends.
// Work failing meanwhile is abandoned unacked for the next owner. Call once.
func (w *Worker) Stop(ctx context.Context) error {
	w.begin()
	// Leaving the group and draining the consumers wait for the server:
	// bounded by ctx (past it, cancelling stopCtx ends work in flight).
	drained := make(chan struct{})
	go func() {
		w.bg.Wait()
		w.parts.leave(ctx)
		w.parts.stopAll()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		w.stopFn()
	}
	w.proc.commitAll()
	done := make(chan struct{})
	go func() { w.sched.wait(); close(done) }()
	// Answering liveness probes until the drain ends: a worker found dead
	// would have its partitions unpinned while it still acks.
	defer func() {
		if w.answering != nil {
			_ = w.answering.Unsubscribe()
		}
	}()
	select {
	case <-done:
		w.parts.unpin(ctx)
		w.log.Info("resolver drained")
		return nil
	case <-ctx.Done():
		w.stopFn()
		<-done
		return fmt.Errorf("resolver: drain: %w", ctx.Err())
	}
}

// PartitionOwner returns which of the live members owns partition p: the
// assignment the workers converge to.
func PartitionOwner(p int, members []string) string { return owner(p, members) }

// Active returns the partitions this worker received messages of recently:
// the ones pinned to it, as far as it can tell.
func (w *Worker) Active() []int {
	var out []int
	for p := range w.partitions {
		if w.parts.active(p) {
			out = append(out, p)
		}
	}
	return out
}

// ID returns the worker's id, as announced in the workers bucket.
func (w *Worker) ID() string { return w.cfg.WorkerID }
