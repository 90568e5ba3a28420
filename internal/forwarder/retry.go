package forwarder

import (
	"net/http"
	"time"
)

// retryDelay returns how long a failed delivery waits before its
// redelivery: the sink's Retry-After (capped) for a 429 or 503 that has
// one, else Backoff doubling with each delivery up to MaxBackoff. reason
// labels the retry in metrics.
func (c *Config) retryDelay(a answer, deliveries uint64) (d time.Duration, reason string) {
	if (a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable) && a.hasRetryAfter {
		return min(a.retryAfter, c.MaxRetryAfter), "retry_after"
	}
	switch {
	case a.status != 0:
		reason = "status"
	case a.err == ErrSinkTimeout:
		reason = "timeout"
	default:
		reason = "error"
	}
	return c.backoff(deliveries), reason
}

// backoff returns Backoff << (deliveries-1), at most MaxBackoff.
func (c *Config) backoff(deliveries uint64) time.Duration {
	n := min(max(deliveries, 1)-1, 30)
	d := c.Backoff << n
	if d <= 0 || d > c.MaxBackoff {
		return c.MaxBackoff
	}
	return d
}
