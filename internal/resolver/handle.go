package resolver

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/commsops/commsops/internal/tracing"
	"github.com/commsops/commsops/pkg/events"
)

// item is one unit of a key's work: a delivered message, (msg nil) a
// catch-up of a message delivered to an earlier owner and not yet acked, or
// (commit) the delayed commit of the key's batch.
type item struct {
	msg     jetstream.Msg
	ev      *Evidence
	subject string
	commit  bool
}

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

// run is the scheduler's: it handles one item of key on the key's goroutine.
func (w *Worker) run(key string, it item) {
	switch {
	case it.commit:
		w.commit(key)
	case it.msg == nil:
		w.handleCatchUp(key, it.subject, it.ev)
	default:
		w.handle(key, it.msg)
	}
}

// handle processes one message to the end: into the key's batch, acked as a
// duplicate, dead-lettered, nacked for redelivery, or (stopping) left
// unacked with its key abandoned.
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
		return w.log.With("key", key, "stream_seq", seq, "client_context", ev.ClientContext, "operation_id", ev.OpID, "step", "processing")
	})
	var o outcome
	err = w.waitOut(key, msg, log, func(attempt int) error {
		// A redelivery, or a retry, may find its events already published.
		repeat := meta.NumDelivered > 1 || attempt > 1
		var err error
		o, err = w.process(w.stopCtx, key, msg.Subject(), ev, repeat)
		return err
	})
	switch {
	case err == nil:
		w.settle(key, pendingEntry{msg: msg, ev: ev, subject: msg.Subject()}, o)
	case w.classify(err) == failGiveUp:
		w.giveUp(msg, key, int(meta.NumDelivered), err, log())
	default:
		w.abandon(key) // stopping: left unacked, for the next owner to catch up in order
	}
}

// process applies ev to key's current state and publishes what it decides;
// the key's commit writes the state later. On error the cached state is
// dropped, so that the next attempt rebuilds it.
func (w *Worker) process(ctx context.Context, key, subject string, ev *Evidence, repeat bool) (outcome, error) {
	c, err := w.current(ctx, key)
	if err != nil {
		return 0, err
	}
	o, err := w.applyAndPublish(ctx, c, subject, ev, repeat)
	if err != nil {
		w.store.forget(key) // rebuilt from KV and the batch on the retry
		return 0, err
	}
	w.m.messages.WithLabelValues(o.String()).Inc()
	return o, nil
}

// current returns key's cached state. On a miss it loads the committed state
// and applies the key's batch again (publishing what the first application
// did not manage to), then caches it.
func (w *Worker) current(ctx context.Context, key string) (*cachedState, error) {
	if c := w.store.cached(key); c != nil {
		return c, nil
	}
	pending := w.batches.pending(key)
	c, err := w.store.load(ctx, key)
	if err != nil {
		return nil, err
	}
	for _, e := range pending {
		if _, err := w.applyAndPublish(ctx, c, e.subject, e.ev, true); err != nil {
			return nil, err
		}
	}
	w.store.put(key, c)
	return c, nil
}

// applyAndPublish applies ev to c's state (Apply, or CheckStall) and
// publishes what it decides; with repeat, events already stored are skipped.
// On error c's state may hold ev half-applied: the caller drops it.
func (w *Worker) applyAndPublish(ctx context.Context, c *cachedState, subject string, ev *Evidence, repeat bool) (outcome, error) {
	if c.st.HasApplied(ev.Seq) {
		return outcomeDuplicate, nil
	}
	var ems []Emission
	if ev.Kind == events.SourceStallTimer {
		var changed bool
		if ems, changed = c.st.CheckStall(ev, w.cfg.StallAfter, subject, time.Now()); !changed {
			return outcomeNoop, nil // the check concerns a finished operation
		}
	} else {
		ems = c.st.Apply(ev)
		c.st.Prune(ev.ReceivedAt, w.cfg.Retention)
		if op := c.st.touched; op != nil && len(op.Sources) > 0 && op.Sources[len(op.Sources)-1].Absorbed && op.RaceDetected && !repeat {
			w.m.races.Inc()
		}
		if sched, ok := c.st.StallSchedule(w.cfg.StallAfter, subject, time.Now()); ok {
			ems = append(ems, sched)
		}
	}
	for i := range ems {
		ems[i].TraceParent = ev.TraceParent
	}
	return outcomeApplied, w.pub.publish(ctx, c, ems, repeat)
}

// settle puts a processed message in its key's batch, acked at the commit,
// or acks it now when it changed nothing and the key has no batch.
func (w *Worker) settle(key string, e pendingEntry, o outcome) {
	if !w.batches.add(key, e, o == outcomeApplied) {
		w.ack(key, e)
	}
}
