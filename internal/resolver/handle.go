package resolver

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/commsops/commsops/internal/tracing"
	"github.com/commsops/commsops/pkg/events"
)

// outcome is what applying one message did.
type outcome int

const (
	outcomeApplied   outcome = iota // merged into the state (and its events published)
	outcomeDuplicate                // already applied
	outcomeNoop                     // a stall check about nothing open
)

func (o outcome) String() string {
	switch o {
	case outcomeApplied:
		return "applied"
	case outcomeDuplicate:
		return "duplicate"
	}
	return "noop"
}

// consumerSpan is the start option of a message's span, made once.
var consumerSpan = trace.WithSpanKind(trace.SpanKindConsumer)

// handle processes one message to the end: into the key's batch, acked as a
// duplicate, dead-lettered, nacked for redelivery, or (stopping) left
// unacked with its key abandoned.
func (pr *processor) handle(key string, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		pr.log.Error("message without metadata", "key", key, "err", err)
		return
	}
	seq := meta.Sequence.Stream
	ev, decodeErr := DecodeEvidence(msg.Headers(), msg.Data(), seq)
	if decodeErr != nil {
		pr.deadLetter(msg, key, decodeErr)
		return
	}
	// A span per message, child of the trace the evidence was ingested in; the
	// resolved events it decides carry this span's context.
	sctx, span := tracing.Tracer().Start(tracing.FromTraceParent(pr.stopCtx, ev.TraceParent), "resolve", consumerSpan)
	defer span.End()
	ev.TraceParent = tracing.TraceParent(sctx, ev.TraceParent)
	// The logger is built only when something is logged.
	ll := messageLog{base: pr.log, key: key, ev: ev}
	log := ll.get
	var o outcome
	err = pr.waitOut(key, msg, log, func(attempt int) error {
		// A redelivery, or a retry, may find its events already published.
		repeat := meta.NumDelivered > 1 || attempt > 1
		var err error
		o, err = pr.process(pr.stopCtx, key, msg.Subject(), ev, repeat)
		return err
	})
	switch {
	case err == nil:
		pr.settle(key, pendingEntry{msg: msg, ev: ev, subject: msg.Subject()}, o)
	case pr.classify(err) == failGiveUp:
		pr.giveUp(msg, key, int(meta.NumDelivered), err, log())
	default:
		pr.abandon(key) // stopping: left unacked, for the next owner to catch up in order
	}
}

// process applies ev to key's current state and publishes what it decides;
// the key's commit writes the state later. On error the cached state is
// dropped, so that the next attempt rebuilds it.
func (pr *processor) process(ctx context.Context, key, subject string, ev *Evidence, repeat bool) (outcome, error) {
	c, err := pr.current(ctx, key)
	if err != nil {
		return 0, err
	}
	o, err := pr.applyAndPublish(ctx, c, subject, ev, repeat)
	if err != nil {
		pr.store.forget(key) // rebuilt from KV and the batch on the retry
		return 0, err
	}
	pr.m.message(o)
	return o, nil
}

// current returns key's cached state. On a miss it loads the committed state
// and applies the key's batch again (publishing what the first application
// did not manage to), then caches it.
func (pr *processor) current(ctx context.Context, key string) (*cachedState, error) {
	if c := pr.store.cached(key); c != nil {
		return c, nil
	}
	pending := pr.batches.pending(key)
	c, err := pr.store.load(ctx, key)
	if err != nil {
		return nil, err
	}
	for _, e := range pending {
		if _, err := pr.applyAndPublish(ctx, c, e.subject, e.ev, true); err != nil {
			return nil, err
		}
	}
	pr.store.put(key, c)
	return c, nil
}

// applyAndPublish applies ev to c's state (Apply, or CheckStall) and
// publishes what it decides; with repeat, events already stored are skipped.
// On error c's state may hold ev half-applied: the caller drops it.
func (pr *processor) applyAndPublish(ctx context.Context, c *cachedState, subject string, ev *Evidence, repeat bool) (outcome, error) {
	if c.st.HasApplied(ev.Seq) {
		return outcomeDuplicate, nil
	}
	var ems []Emission
	if ev.Kind == events.SourceStallTimer {
		var changed bool
		if ems, changed = c.st.CheckStall(ev, pr.cfg.StallAfter, subject, time.Now()); !changed {
			return outcomeNoop, nil // the check concerns a finished operation
		}
	} else {
		ems = c.st.Apply(ev)
		c.st.Prune(ev.ReceivedAt, pr.cfg.Retention)
		if op := c.st.touched; op != nil && len(op.Sources) > 0 && op.Sources[len(op.Sources)-1].Absorbed && op.RaceDetected && !repeat {
			pr.m.races.Inc()
		}
	}
	for i := range ems {
		ems[i].TraceParent = ev.TraceParent
	}
	return outcomeApplied, pr.pub.publish(ctx, c, ems, repeat)
}

// settle puts a processed message in its key's batch, acked at the commit,
// or acks it now when it changed nothing and the key has no batch.
func (pr *processor) settle(key string, e pendingEntry, o outcome) {
	if !pr.batches.add(key, e, o == outcomeApplied) {
		pr.ack(key, e)
	}
}

// messageLog builds a message's logger on first use and keeps it: it is
// needed only when something is logged. Unlike a sync.OnceValue closure it
// lives on the caller's stack; one goroutine uses it.
type messageLog struct {
	base *slog.Logger
	key  string
	ev   *Evidence
	l    *slog.Logger
}

// get returns the logger, building it on the first call.
func (ml *messageLog) get() *slog.Logger {
	if ml.l == nil {
		ml.l = ml.base.With("key", ml.key, "stream_seq", ml.ev.Seq, "client_context", ml.ev.ClientContext, "operation_id", ml.ev.OpID, "step", "processing")
	}
	return ml.l
}
