package jsutil

import (
	"errors"
	"testing"
	"time"
)

var (
	errPasses = errors.New("passes")
	errStays  = errors.New("stays")
)

// TestRetryDo: Do retries what may pass until it succeeds, stops at once on
// what cannot, and gives up on any failure once Stop is closed.
func TestRetryDo(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	cases := []struct {
		name      string
		results   []error // try's result per attempt; the last repeats
		stop      <-chan struct{}
		wantErr   error
		wantTries int
		wantRetry []int // attempts OnRetry saw
	}{
		{"succeeds at once", []error{nil}, nil, nil, 1, nil},
		{"passing failures are retried", []error{errPasses, errPasses, nil}, nil, nil, 3, []int{1, 2}},
		{"a permanent failure ends it", []error{errPasses, errStays, nil}, nil, errStays, 2, []int{1}},
		{"stopped: the first failure ends it", []error{errPasses, nil}, closed, errPasses, 1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var retried []int
			r := Retry{
				ShouldRetry: func(err error) bool { return !errors.Is(err, errStays) },
				Interval:    time.Millisecond, MaxInterval: 2 * time.Millisecond,
				OnRetry: func(attempt int, err error) {
					if err == nil {
						t.Error("OnRetry without an error")
					}
					retried = append(retried, attempt)
				},
				Stop: tc.stop,
			}
			tries := 0
			err := r.Do(func(attempt int) error {
				tries++
				if attempt != tries {
					t.Errorf("attempt %d on try %d", attempt, tries)
				}
				return tc.results[min(attempt, len(tc.results))-1]
			})
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("Do = %v, want %v", err, tc.wantErr)
			}
			if tries != tc.wantTries {
				t.Errorf("%d tries, want %d", tries, tc.wantTries)
			}
			if len(retried) != len(tc.wantRetry) {
				t.Fatalf("OnRetry saw %v, want %v", retried, tc.wantRetry)
			}
			for i := range retried {
				if retried[i] != tc.wantRetry[i] {
					t.Fatalf("OnRetry saw %v, want %v", retried, tc.wantRetry)
				}
			}
		})
	}
}

// TestRetryStopEndsThePause: closing Stop during a pause ends it; the attempt
// after it is the last.
func TestRetryStopEndsThePause(t *testing.T) {
	stop := make(chan struct{})
	r := Retry{Interval: time.Hour, MaxInterval: time.Hour, Stop: stop,
		OnRetry: func(int, error) { close(stop) }}
	tries := 0
	err := r.Do(func(int) error { tries++; return errPasses })
	if !errors.Is(err, errPasses) || tries != 2 {
		t.Fatalf("Do = %v after %d tries, want errPasses after 2", err, tries)
	}
}

func TestRetryDelay(t *testing.T) {
	r := Retry{Interval: 50 * time.Millisecond, MaxInterval: 5 * time.Second}
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{
		{1, 50 * time.Millisecond}, {2, 100 * time.Millisecond}, {4, 400 * time.Millisecond},
		{7, 3200 * time.Millisecond}, {8, 5 * time.Second}, {1000, 5 * time.Second},
	} {
		if got := r.Delay(tc.attempt); got != tc.want {
			t.Errorf("Delay(%d) = %v, want %v", tc.attempt, got, tc.want)
		}
	}
	if got := (Retry{}).Delay(1); got != 50*time.Millisecond {
		t.Errorf("default first delay %v, want 50ms", got)
	}
}
