package resolver

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/jsutil"
)

// What becomes of failed work: the one place that classifies failures (see
// doc.go, "Waiting out failures").

// failure is the classification of a failed step.
type failure int

const (
	// failRetry: the failure can pass; the step is retried in place, the key
	// held.
	failRetry failure = iota
	// failGiveUp: retrying cannot mend it; the messages are left for
	// redelivery and dead-lettered on their last delivery (giveUp).
	failGiveUp
	// failAbandon: the worker stops; the key is abandoned, its messages left
	// unacked for the next owner (abandon).
	failAbandon
)

// classify returns what becomes of work that failed with err.
func (pr *processor) classify(err error) failure {
	switch {
	case permanent(err):
		return failGiveUp
	case pr.stopping():
		return failAbandon
	default:
		return failRetry
	}
}

// retryPolicy is the pause schedule of in-place retries and redeliveries:
// 50ms doubling, at most 5s.
var retryPolicy = jsutil.Retry{Interval: 50 * time.Millisecond, MaxInterval: 5 * time.Second}

// waitOut runs try (attempt counts from 1) until it succeeds or classify
// says anything but failRetry, and returns try's last error. While it
// waits, own (nil: none) and key's other unacked messages are kept from
// redelivery. log is called only to log a retry.
func (pr *processor) waitOut(key string, own jetstream.Msg, log func() *slog.Logger, try func(attempt int) error) error {
	var stopKeepAlive func()
	r := retryPolicy
	r.Stop = pr.stopBegun.Done()
	r.ShouldRetry = func(err error) bool { return pr.classify(err) == failRetry }
	r.OnRetry = func(attempt int, err error) {
		if stopKeepAlive == nil {
			stopKeepAlive = jsutil.KeepAlive(0, max(pr.cfg.AckWait/3, 10*time.Millisecond), func() []jetstream.Msg {
				msgs := pr.unacked(key)
				if own != nil {
					msgs = append(msgs, own)
				}
				return msgs
			})
		}
		if attempt < pr.cfg.MaxAttempts {
			log().Warn("failed; retrying", "attempt", attempt, "err", err)
		} else {
			log().Error("still failing; the key waits and retries", "attempt", attempt, "err", err)
		}
	}
	err := r.Do(try)
	if stopKeepAlive != nil {
		stopKeepAlive()
	}
	return err
}

// unacked returns key's delivered and unacked messages: those applied and
// waiting for the batch's commit, and those waiting in its queue.
func (pr *processor) unacked(key string) []jetstream.Msg {
	var out []jetstream.Msg
	for _, e := range pr.batches.pending(key) {
		if e.msg != nil {
			out = append(out, e.msg)
		}
	}
	for _, it := range pr.sched.queued(key) {
		if it.msg != nil {
			out = append(out, it.msg)
		}
	}
	return out
}

// stopping reports whether Stop has begun: failing work is then abandoned
// rather than retried.
func (pr *processor) stopping() bool { return pr.stopBegun.Err() != nil }

// giveUp leaves a message that could not be finished for redelivery, or
// dead-letters it when this was its last delivery (MaxDeliver).
func (pr *processor) giveUp(msg jetstream.Msg, key string, delivered int, err error, log *slog.Logger) {
	if delivered >= pr.cfg.MaxDeliver {
		pr.deadLetter(msg, key, fmt.Errorf("gave up after %d deliveries: %w", delivered, err))
		return
	}
	pr.m.messages.WithLabelValues("left").Inc()
	log.Error("processing failed; leaving the message for redelivery", "deliveries", delivered, "err", err)
	_ = msg.NakWithDelay(retryPolicy.Delay(delivered + 3))
}

// abandon gives key up while stopping: its queue and batch are dropped
// unacked, its state forgotten, and nothing queued for it later runs.
func (pr *processor) abandon(key string) {
	pr.sched.abandon(key)
	pr.batches.drop(key)
	pr.store.forget(key)
}

// permanent reports whether an error can never pass by retrying: errNoRetry,
// a message too large, or a request JetStream refuses as malformed (API code
// 400) other than a compare-and-swap conflict.
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
