package service

import (
	"context"
	"sync"
	"time"
)

// ShutdownDeadline is the one deadline of a process's whole shutdown
// (COMMSOPS_SHUTDOWN_TIMEOUT): the HTTP shutdown, the consumers' drain, the
// NATS drain and the tracing flush all end by it, so that the process is done
// within the timeout however the time is spent between them (Kubernetes kills
// it terminationGracePeriodSeconds after SIGTERM). Its clock starts at the
// first call of Context: at SIGTERM, or when a failure ends the process
// before it.
type ShutdownDeadline struct {
	timeout time.Duration
	once    sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewShutdownDeadline returns a deadline timeout long, not started yet.
func NewShutdownDeadline(timeout time.Duration) *ShutdownDeadline {
	return &ShutdownDeadline{timeout: timeout}
}

// Context starts the clock on its first call and returns the context that
// ends at the deadline; every later call returns the same context.
func (d *ShutdownDeadline) Context() context.Context {
	d.once.Do(func() { d.ctx, d.cancel = context.WithTimeout(context.Background(), d.timeout) })
	return d.ctx
}

// Cancel releases the context's timer; defer it before the steps that use
// Context, so that it runs after them.
func (d *ShutdownDeadline) Cancel() {
	d.Context()
	d.cancel()
}
