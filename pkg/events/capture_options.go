package events

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CaptureOption configures CaptureResponses.
type CaptureOption func(*captureConfig) error

type captureConfig struct {
	onError    func(error)
	retryFor   time.Duration
	maxPending int
	registerer prometheus.Registerer
}

func newCaptureConfig(opts []CaptureOption) (captureConfig, error) {
	c := captureConfig{onError: func(error) {}, retryFor: 2 * time.Minute, maxPending: 10000}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil CaptureOption", ErrInvalidOption)
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// OnCaptureError sets the function told when an action response could not be
// captured: not parseable as evidence, dropped because too many stores were
// pending, or not stored within the retry bound. f must be safe for
// concurrent use. Default: ignore.
func OnCaptureError(f func(error)) CaptureOption {
	return func(c *captureConfig) error {
		if f == nil {
			return fmt.Errorf("%w: OnCaptureError(nil)", ErrInvalidOption)
		}
		c.onError = f
		return nil
	}
}

// CaptureRetryFor bounds how long a failed store is retried in the
// background (default 2m); then it is reported and given up.
func CaptureRetryFor(d time.Duration) CaptureOption {
	return func(c *captureConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: CaptureRetryFor(%v) must be positive", ErrInvalidOption, d)
		}
		c.retryFor = d
		return nil
	}
}

// CaptureMaxPending bounds the stores waiting or retrying at once (default
// 10,000); a response captured beyond it is dropped and reported.
func CaptureMaxPending(n int) CaptureOption {
	return func(c *captureConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: CaptureMaxPending(%d) must be at least 1", ErrInvalidOption, n)
		}
		c.maxPending = n
		return nil
	}
}

// CaptureMetrics registers the capture's counters with reg:
// commsops_capture_stored_total, commsops_capture_retries_total and
// commsops_capture_failed_total (by reason).
func CaptureMetrics(reg prometheus.Registerer) CaptureOption {
	return func(c *captureConfig) error {
		if reg == nil {
			return fmt.Errorf("%w: CaptureMetrics(nil)", ErrInvalidOption)
		}
		c.registerer = reg
		return nil
	}
}
