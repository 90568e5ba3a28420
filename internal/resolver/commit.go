package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// Group commit.
//
// A key's messages are applied to its cached state one at a time, in order,
// and the events each one decides are published at once: nothing waits for a
// state write. The message then joins the key's batch. The batch is committed
// (one compare-and-swap write of the state) when the key has nothing more
// queued, or CommitDelay later when that is set, and only then are its
// messages acked. So the cached state is always the committed state with the
// batch applied in order, and when it is lost (evicted, or dropped after a
// failure) it is rebuilt exactly that way: loaded from KV, then the batch
// applied again. A crash loses only unacked messages, which are redelivered
// or caught up by the next owner and applied again to the committed state.
//
// Events that such a repeated application decides may already have been
// published by the work that was not committed. They are exactly the key's
// events stored after the committed state's ResolvedSeq: those are read once
// per rebuilt state and not published again, so every event is stored once
// however long the gap (the Nats-Msg-Id window catches the same within 10
// minutes in any case).

// maxBatch bounds the messages of one key in one commit; well under
// maxApplied, so that a batch's messages are always recognised as applied.
const maxBatch = 64

// pendingEntry is one applied, uncommitted message of a key.
type pendingEntry struct {
	msg     jetstream.Msg // nil for a caught-up message: its own delivery is acked
	ev      *Evidence
	subject string
}

// batch is a key's applied and uncommitted work.
type batch struct {
	entries []pendingEntry
	// timer is armed while a delayed commit is pending (it holds a count in
	// the worker's WaitGroup until it fires or is stopped).
	timer *time.Timer
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

// apply applies ev to c's state and publishes the events it decides. When
// repeat is set, ev may have been applied before by work that was not
// committed: its events that are already stored are not published again. On
// error c's state may hold ev half-applied: the caller drops it (forget).
func (w *Worker) apply(ctx context.Context, c *cachedState, subject string, ev *Evidence, repeat bool) (outcome, error) {
	if c.st.HasApplied(ev.Seq) {
		return outcomeDuplicate, nil
	}
	var outbox []Emission
	if ev.Kind == events.SourceStallTimer {
		var changed bool
		if outbox, changed = c.st.CheckStall(ev, w.cfg.StallAfter, subject, time.Now()); !changed {
			return outcomeNoop, nil // the check concerns a finished operation
		}
	} else {
		outbox = c.st.Apply(ev)
		c.st.Prune(ev.ReceivedAt, w.cfg.Retention)
		if op := c.st.touched; op != nil && len(op.Sources) > 0 && op.Sources[len(op.Sources)-1].Absorbed && op.RaceDetected && !repeat {
			w.m.races.Inc()
		}
		if sched, ok := c.st.StallSchedule(w.cfg.StallAfter, subject, time.Now()); ok {
			outbox = append(outbox, sched)
		}
	}
	for i := range outbox {
		outbox[i].TraceParent = ev.TraceParent
	}
	return outcomeApplied, w.publish(ctx, c, outbox, repeat)
}

// publish stores the events and stall schedules of outbox, all in one round
// trip, and waits for every ack. With repeat, resolved events already stored
// after the committed state are skipped. It advances the state's ResolvedSeq.
func (w *Worker) publish(ctx context.Context, c *cachedState, outbox []Emission, repeat bool) error {
	if repeat && len(outbox) > 0 {
		if c.published == nil {
			ids, err := w.publishedAfter(ctx, c.st.Key, c.st.ResolvedSeq)
			if err != nil {
				return err
			}
			c.published = ids
		}
		outbox = slices.DeleteFunc(outbox, func(em Emission) bool {
			return em.Kind == EmitResolved && c.published[em.ID]
		})
	}
	if len(outbox) == 0 {
		return nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(outbox))
	for _, em := range outbox {
		msg, opts, err := w.outboxMsg(em)
		if err != nil {
			return err
		}
		f, err := w.js.PublishMsgAsync(msg, opts...)
		if err != nil {
			return fmt.Errorf("resolver: publish %s: %w", em.Subject, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if outbox[i].Kind == EmitResolved {
				c.st.ResolvedSeq = max(c.st.ResolvedSeq, ack.Sequence)
				if c.published != nil {
					c.published[outbox[i].ID] = true
				}
			}
		case err := <-f.Err():
			return fmt.Errorf("resolver: publish %s: %w", outbox[i].Subject, err)
		case <-ctx.Done():
			return fmt.Errorf("resolver: publish %s: %w", outbox[i].Subject, ctx.Err())
		}
	}
	for _, em := range outbox {
		w.published(em)
	}
	return nil
}

// publishedAfter returns the ids of key's resolved events stored after
// stream sequence after.
func (w *Worker) publishedAfter(ctx context.Context, key string, after uint64) (map[string]bool, error) {
	filter := events.SubjectResolvedPrefix + key + ".*"
	ids := make(map[string]bool)
	for seq := after + 1; ; {
		m, err := w.resolved.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return ids, nil
		}
		if err != nil {
			return nil, fmt.Errorf("resolver: read published events of %s: %w", key, err)
		}
		ids[m.Header.Get(events.HeaderID)] = true
		seq = m.Sequence + 1
	}
}

// settle ends one message's processing: it joins the key's batch, to be acked
// when the batch is committed, or, when it changed nothing and nothing of
// the key is pending, it is acked now. Caught-up messages (no msg) that
// changed nothing need nothing.
func (w *Worker) settle(key string, e pendingEntry, o outcome) {
	w.mu.Lock()
	b := w.batches[key]
	if o != outcomeApplied && b == nil {
		w.mu.Unlock()
		w.ack(key, e)
		return
	}
	if b == nil {
		b = &batch{}
		w.batches[key] = b
	}
	b.entries = append(b.entries, e)
	w.mu.Unlock()
}

// commitDue reports, with w.mu held, whether key's batch must be committed
// before its goroutine moves on or ends: it is full, or the queue is empty
// and commits are not delayed (or the worker is stopping). When the queue is
// empty and commits are delayed, it arms the delayed commit instead.
func (w *Worker) commitDue(key string, queueEmpty bool) bool {
	b := w.batches[key]
	if b == nil || len(b.entries) == 0 {
		return false
	}
	if len(b.entries) >= maxBatch {
		return true
	}
	if !queueEmpty || b.timer != nil {
		return false
	}
	if w.cfg.CommitDelay <= 0 || w.closing {
		return true
	}
	w.wg.Add(1)
	b.timer = time.AfterFunc(w.cfg.CommitDelay, func() {
		w.mu.Lock()
		if b.timer != nil {
			b.timer = nil
			w.enqueueLocked(key, item{commit: true})
		}
		w.mu.Unlock()
		w.wg.Done()
	})
	return false
}

// commitAll commits every pending batch now (closing: and every later one at
// once, as the worker stops).
func (w *Worker) commitAll(closing bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if closing {
		w.closing = true
	}
	for key, b := range w.batches {
		if w.disarm(b) {
			w.enqueueLocked(key, item{commit: true})
		}
	}
}

// disarm stops b's delayed commit when it is armed and has not fired, and
// reports whether it did. Called with w.mu held.
func (w *Worker) disarm(b *batch) bool {
	if b.timer == nil || !b.timer.Stop() {
		return false
	}
	b.timer = nil
	w.wg.Done() // the stopped timer's count
	return true
}

// takeBatch removes key's batch b and returns its entries.
func (w *Worker) takeBatch(key string, b *batch) []pendingEntry {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.batches, key)
	return b.entries
}

// ack acknowledges a finished message (none for a caught-up one).
func (w *Worker) ack(key string, e pendingEntry) {
	if e.msg == nil {
		return
	}
	if err := e.msg.Ack(); err != nil {
		w.log.Warn("ack failed; the message will be redelivered and skipped", "key", key, "stream_seq", e.ev.Seq, "err", err)
	}
}

// giveUp leaves a message that could not be finished for redelivery, or
// dead-letters it when this was its last delivery (MaxDeliver).
func (w *Worker) giveUp(msg jetstream.Msg, key string, delivered int, err error, log *slog.Logger) {
	if delivered >= w.cfg.MaxDeliver {
		w.deadLetter(msg, key, fmt.Errorf("gave up after %d deliveries: %w", delivered, err))
		return
	}
	w.m.messages.WithLabelValues("left").Inc()
	log.Error("processing failed; leaving the message for redelivery", "deliveries", delivered, "err", err)
	_ = msg.NakWithDelay(backoff(delivered + 3))
}

// commit writes key's state with its batch applied and acks the batch's
// messages. When the write is fenced (another worker wrote the key) the state
// is rebuilt on the written one and the write tried again at once, up to
// MaxAttempts times before backing off. A write that fails for a passing
// reason is waited out in place (retry.go): the key's later messages wait in
// its queue meanwhile. Only a state that can never be written or read gives
// up: the state is dropped and the messages nacked for redelivery, or
// dead-lettered on their last delivery (MaxDeliver). When the worker stops
// first, the messages are left unacked for the next owner.
func (w *Worker) commit(key string) {
	w.mu.Lock()
	b := w.batches[key]
	if b != nil {
		w.disarm(b)
	}
	w.mu.Unlock()
	if b == nil || len(b.entries) == 0 {
		return
	}
	// The logger is built only when something is logged.
	log := sync.OnceValue(func() *slog.Logger { return w.log.With("key", key, "messages", len(b.entries)) })
	err := w.untilDone(key, nil, "state write", log, func(int) error {
		for fence := 1; ; fence++ {
			c, err := w.state(w.stopCtx, key)
			if err == nil {
				var rev uint64
				if rev, err = w.save(w.stopCtx, key, c.st, c.rev); err == nil {
					c.rev, c.published = rev, nil
					return nil
				}
			}
			w.forget(key)
			if !errors.Is(err, ErrFenced) || fence >= w.cfg.MaxAttempts || w.stopping() {
				w.m.commitFailures.Inc()
				return err
			}
			// Another worker wrote the key (this one took it over while the
			// previous owner still committed what it had): rebuild on its
			// state, where the batch's messages it applied are skipped and
			// the rest follow them in order, and write again.
			w.log.Debug("state changed under this worker; rebuilding", "key", key, "attempt", fence)
		}
	})
	if err != nil && !permanent(err) {
		log().Info("stopped before the state was written; its messages are left for redelivery", "err", err)
		w.abandon(key)
		return
	}
	entries := w.takeBatch(key, b)
	if err == nil {
		w.m.commits.Inc()
		w.m.batched.Observe(float64(len(entries)))
		for _, e := range entries {
			w.ack(key, e)
		}
		return
	}
	w.forget(key)
	log().Error("state cannot be written or read; leaving its messages for redelivery", "err", err)
	for _, e := range entries {
		if e.msg == nil {
			continue
		}
		delivered := 1
		if meta, merr := e.msg.Metadata(); merr == nil {
			delivered = int(meta.NumDelivered)
		}
		w.giveUp(e.msg, key, delivered, err, log().With("stream_seq", e.ev.Seq))
	}
}
