package resolver

import (
	"errors"
	"log/slog"
	"time"
)

// checkpoint is the scheduler's: it commits key's batch when due.
func (pr *processor) checkpoint(key string, drained bool) bool {
	if !pr.batches.due(key, drained) {
		return false
	}
	pr.commit(key)
	return true
}

// commitAll queues the commit of every batch whose commit was delayed, and
// makes every later commit immediate, as the worker stops.
func (pr *processor) commitAll() {
	for _, key := range pr.batches.stop() {
		pr.sched.enqueue(key, item{commit: true})
	}
}

// commit writes key's state with its batch applied and then acks the batch's
// messages; a fenced write is rebuilt on the winner's state and tried again.
// A failure is classified (classify): waited out, given up (nacked or
// dead-lettered), or, when stopping, the key abandoned unacked.
func (pr *processor) commit(key string) {
	entries := pr.batches.begin(key)
	if len(entries) == 0 {
		return
	}
	// The logger is built only when something is logged.
	ll := commitLog{base: pr.log, key: key, messages: len(entries)}
	log := ll.get
	last := entries[len(entries)-1]
	err := pr.waitOut(key, nil, log, func(int) error {
		for fence := 1; ; fence++ {
			c, err := pr.current(pr.stopCtx, key)
			if err == nil {
				err = pr.scheduleStallChecks(c, last)
			}
			if err == nil {
				var rev uint64
				if rev, err = pr.store.save(pr.stopCtx, key, c.st, c.rev); err == nil {
					c.rev, c.published = rev, nil
					return nil
				}
			}
			pr.store.forget(key)
			if !errors.Is(err, ErrFenced) || fence >= pr.cfg.MaxAttempts || pr.stopping() {
				pr.m.commitFailures.Inc()
				return err
			}
			// Another worker wrote the key (this one took it over while the
			// previous owner still committed what it had): rebuild on its
			// state, where the batch's messages it applied are skipped and
			// the rest follow them in order, and write again.
			pr.log.Debug("state changed under this worker; rebuilding", "key", key, "attempt", fence)
		}
	})
	switch {
	case err == nil:
		pr.batches.finish(key)
		pr.m.commits.Inc()
		pr.m.batched.Observe(float64(len(entries)))
		for _, e := range entries {
			pr.ack(key, e)
		}
	case pr.classify(err) == failGiveUp:
		pr.batches.finish(key)
		pr.store.forget(key)
		log().Error("state cannot be written or read; leaving its messages for redelivery", "err", err)
		for _, e := range entries {
			if e.msg == nil {
				continue
			}
			delivered := 1
			if meta, merr := e.msg.Metadata(); merr == nil {
				delivered = int(meta.NumDelivered)
			}
			pr.giveUp(e.msg, key, delivered, err, log().With("stream_seq", e.ev.Seq))
		}
	default:
		log().Info("stopped before the state was written; its messages are left for redelivery", "err", err)
		pr.abandon(key)
	}
}

// scheduleStallChecks publishes the stall checks c's open operations lack,
// before the state write that records them: an operation that finished
// within the batch gets none. They fire onto last's subject and carry its
// trace.
func (pr *processor) scheduleStallChecks(c *cachedState, last pendingEntry) error {
	ems := c.st.StallSchedules(pr.cfg.StallAfter, last.subject, time.Now())
	for i := range ems {
		ems[i].TraceParent = last.ev.TraceParent
	}
	return pr.pub.publish(pr.stopCtx, c, ems, false)
}

// ack acknowledges a finished message (none for a caught-up one).
func (pr *processor) ack(key string, e pendingEntry) {
	if e.msg == nil {
		return
	}
	if err := e.msg.Ack(); err != nil {
		pr.log.Warn("ack failed; the message will be redelivered and skipped", "key", key, "stream_seq", e.ev.Seq, "err", err)
	}
}

// commitLog builds a commit's logger on first use and keeps it (see
// messageLog).
type commitLog struct {
	base     *slog.Logger
	key      string
	messages int
	l        *slog.Logger
}

// get returns the logger, building it on the first call.
func (cl *commitLog) get() *slog.Logger {
	if cl.l == nil {
		cl.l = cl.base.With("key", cl.key, "messages", cl.messages, "step", "state write")
	}
	return cl.l
}
