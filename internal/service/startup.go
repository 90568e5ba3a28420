package service

import (
	"context"
	"time"
)

// StartupTimeout bounds, together, every startup step of a process that
// talks to NATS or JetStream (connect, streams, consumers, buckets): a cluster
// electing its leaders leaves requests unanswered for seconds, and each step
// waits that out, but the start as a whole fails by this deadline so that a
// restart policy takes over.
const StartupTimeout = 2 * time.Minute

// StartupContext returns ctx bounded by StartupTimeout, for every startup
// step; call done once the process serves (it releases the timer; the steps'
// results outlive it).
func StartupContext(ctx context.Context) (startCtx context.Context, done context.CancelFunc) {
	return context.WithTimeout(ctx, StartupTimeout)
}
