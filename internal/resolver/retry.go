package resolver

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Waiting out failures.
//
// A failure that can pass (JetStream or the state bucket unavailable or
// full, a timeout) is retried in place, with backoff, for as long as it
// lasts. The key's goroutine waits meanwhile, so the key's later messages
// wait behind the failing work: none is applied to a state that lacks what
// the failing work may already have published, which could publish a status
// behind one already out. The failing messages, the key's applied and
// uncommitted batch and the messages queued behind it are kept from
// redelivery (InProgress every AckWait/3). Only what retrying cannot mend
// (permanent) leaves its messages for redelivery and, on their last
// delivery, the dead-letter stream.
//
// Once Stop begins, failing work is not waited out: its key is abandoned.
// Nothing more of the key is processed or acked (not its queue, its batch,
// or anything dispatched later), so the next owner finds all of it unacked
// and applies it in stream order.

// untilDone runs try (attempt counts from 1) until it succeeds, fails for
// good, or the worker stops. It returns try's last error: nil, a permanent
// one, or the one the worker stopped on. step names the work in logs; msgs
// (nil: none) returns the messages of the work, to keep alive while it waits.
func (w *Worker) untilDone(key string, msgs func() []jetstream.Msg, step string, log func() *slog.Logger, try func(attempt int) error) error {
	var stopKeepAlive func()
	defer func() {
		if stopKeepAlive != nil {
			stopKeepAlive()
		}
	}()
	for attempt := 1; ; attempt++ {
		err := try(attempt)
		if err == nil || permanent(err) || w.stopping() {
			return err
		}
		if stopKeepAlive == nil {
			var own []jetstream.Msg
			if msgs != nil {
				own = msgs()
			}
			stopKeepAlive = w.keepAlive(key, own)
		}
		if attempt < w.cfg.MaxAttempts {
			log().Warn("failed; retrying", "step", step, "attempt", attempt, "err", err)
		} else {
			log().Error("still failing; the key waits and retries", "step", step, "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(backoff(attempt)):
		case <-w.stopReq:
		}
	}
}

// backoff returns the pause after failed attempt n: 50ms doubling, at most
// 5s.
func backoff(attempt int) time.Duration {
	d := 50 * time.Millisecond << min(attempt-1, 7)
	return min(d, 5*time.Second)
}

// stopping reports whether Stop has begun: failing work is then abandoned
// rather than retried.
func (w *Worker) stopping() bool {
	select {
	case <-w.stopReq:
		return true
	default:
		return false
	}
}

// abandon gives key up while stopping: its queue and batch are dropped
// unacked, its cached state forgotten, and nothing dispatched for it later
// is processed.
func (w *Worker) abandon(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.abandoned[key] = true
	if q := w.keys[key]; q != nil {
		q.items = nil
	}
	if b := w.batches[key]; b != nil {
		w.disarm(b)
		delete(w.batches, key)
	}
	delete(w.cache, key)
}

// permanent reports whether a processing or state-write error can never
// pass by retrying: errNoRetry, a message too large, or a request JetStream
// refuses as malformed (API code 400: per-message TTL or schedules not
// enabled, the wrong expected stream, ...) other than a compare-and-swap
// conflict.
func permanent(err error) bool {
	if errors.Is(err, errNoRetry) || isTooLarge(err) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 400 && !isCASConflict(err)
}

// isTooLarge reports whether err refuses a message for its size, on the
// client (over the server's max_payload) or in the stream (over its maximum
// message size).
func isTooLarge(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
}

// keepAlive keeps msgs, and key's other unacked messages (queued), from
// being redelivered: it sends them InProgress now and every AckWait/3 until the
// returned function is called (which waits for the last round to end).
func (w *Worker) keepAlive(key string, msgs []jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(max(w.cfg.AckWait/3, 10*time.Millisecond))
		defer tick.Stop()
		for {
			for _, m := range msgs {
				_ = m.InProgress()
			}
			for _, m := range w.queued(key) {
				_ = m.InProgress()
			}
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// queued returns key's delivered and unacked messages: those applied and
// waiting for the batch's commit, and those waiting in its queue.
func (w *Worker) queued(key string) []jetstream.Msg {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []jetstream.Msg
	if b := w.batches[key]; b != nil {
		for _, e := range b.entries {
			if e.msg != nil {
				out = append(out, e.msg)
			}
		}
	}
	if q := w.keys[key]; q != nil {
		for _, it := range q.items {
			if it.msg != nil {
				out = append(out, it.msg)
			}
		}
	}
	return out
}
