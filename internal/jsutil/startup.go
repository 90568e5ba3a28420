package jsutil

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Startup is one step of a service's startup that talks to JetStream
// (creating or looking up a stream, a consumer or a bucket). A JetStream
// cluster that is electing a leader (a node killed or restarted, a fresh
// deploy) leaves requests unanswered for seconds: the step waits that out.
type Startup struct {
	// Name names the step in the log line.
	Name string
	// Log receives one warning, at the step's first retry.
	Log *slog.Logger
	// Attempt bounds each attempt (default 10s): a request sent while no
	// leader listens is never answered, so it must be sent again.
	Attempt time.Duration
	// ShouldRetry reports which failures to wait out (default Transient).
	ShouldRetry func(error) bool
}

// DefaultStartupTimeout bounds a startup step whose context has no deadline.
const DefaultStartupTimeout = 2 * time.Minute

// Run calls do, each attempt with its own deadline, until it succeeds, fails
// in a way ShouldRetry refuses, or ctx ends (DefaultStartupTimeout when ctx
// has no deadline). It returns nil or do's last error.
func (s Startup) Run(ctx context.Context, do func(ctx context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartupTimeout)
		defer cancel()
	}
	attempt := s.Attempt
	if attempt <= 0 {
		attempt = 10 * time.Second
	}
	should := s.ShouldRetry
	if should == nil {
		should = Transient
	}
	r := Retry{
		ShouldRetry: should,
		Interval:    250 * time.Millisecond, MaxInterval: 5 * time.Second,
		Stop: ctx.Done(),
		OnRetry: func(n int, err error) {
			if n == 1 && s.Log != nil {
				s.Log.Warn("JetStream not ready; retrying until the startup deadline", "step", s.Name, "err", err)
			}
		},
	}
	return r.Do(func(int) error {
		actx, cancel := context.WithTimeout(ctx, attempt)
		defer cancel()
		return do(actx)
	})
}

// Transient reports whether a JetStream request failed for a reason that
// passes: no answer in time, no responders, or a server error (5xx:
// JetStream temporarily unavailable, no leader, insufficient resources).
func Transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code >= 500 || apiErr.Code == 408
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}
