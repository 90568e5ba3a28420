package jsutil

import "time"

// Retry is a retry policy in the spirit of watermill's middleware.Retry: a
// step that fails is tried again after a pause that doubles from Interval up
// to MaxInterval, for as long as ShouldRetry allows and Stop is open.
type Retry struct {
	// ShouldRetry reports whether a failure may pass by retrying; nil: any may.
	ShouldRetry func(err error) bool
	// Interval is the pause after the first failure (default 50ms); it doubles
	// after each further one, up to MaxInterval (default 5s).
	Interval, MaxInterval time.Duration
	// OnRetry, when set, is called after each failure that will be retried,
	// before the pause.
	OnRetry func(attempt int, err error)
	// Stop, when closed, ends the retrying: the attempt running then (or the
	// one after the pause it interrupts) is the last.
	Stop <-chan struct{}
}

// Do calls try with attempt 1, 2, ... until it returns nil, a failure that
// ShouldRetry refuses, or any failure once Stop is closed. It returns try's
// last error.
func (r Retry) Do(try func(attempt int) error) error {
	for attempt := 1; ; attempt++ {
		err := try(attempt)
		if err == nil || (r.ShouldRetry != nil && !r.ShouldRetry(err)) || r.stopped() {
			return err
		}
		if r.OnRetry != nil {
			r.OnRetry(attempt, err)
		}
		t := time.NewTimer(r.Delay(attempt))
		select {
		case <-t.C:
		case <-r.Stop:
			t.Stop()
		}
	}
}

// Delay returns the pause after failed attempt n (from 1): Interval doubled
// n-1 times, at most MaxInterval.
func (r Retry) Delay(attempt int) time.Duration {
	d, limit := r.Interval, r.MaxInterval
	if d <= 0 {
		d = 50 * time.Millisecond
	}
	if limit <= 0 {
		limit = 5 * time.Second
	}
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

func (r Retry) stopped() bool {
	select {
	case <-r.Stop:
		return true
	default:
		return false
	}
}
