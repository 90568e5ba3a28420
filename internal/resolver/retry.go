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
// behind one already out. The failing messages and those queued behind them
// are kept from redelivery (InProgress every AckWait/3). Only what retrying
// cannot mend (permanent) leaves its messages for redelivery and, on their
// last delivery, the dead-letter stream. When the worker stops, the work is
// abandoned and its messages left unacked: the next owner catches them up in
// stream order.

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
		case <-w.stopCtx.Done():
		}
	}
}

// backoff returns the pause after failed attempt n: 50ms doubling, at most
// 5s.
func backoff(attempt int) time.Duration {
	d := 50 * time.Millisecond << min(attempt-1, 7)
	return min(d, 5*time.Second)
}

// stopping reports whether the worker is stopping: failing work is then
// abandoned rather than retried.
func (w *Worker) stopping() bool {
	return w.stopRequested.Load() || w.stopCtx.Err() != nil
}

// permanent reports whether a processing or state-write error can never
// pass by retrying.
func permanent(err error) bool {
	return errors.Is(err, errNoRetry) || isTooLarge(err)
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

// keepAlive keeps msgs, and the messages queued behind key, from being
// redelivered: it sends them InProgress now and every AckWait/3 until the
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

// queued returns the delivered messages waiting in key's queue.
func (w *Worker) queued(key string) []jetstream.Msg {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.keys[key]
	if q == nil {
		return nil
	}
	var out []jetstream.Msg
	for _, it := range q.items {
		if it.msg != nil {
			out = append(out, it.msg)
		}
	}
	return out
}
