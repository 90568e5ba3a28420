// Command resolver consumes the operation evidence in COMMS_IN, orders it per
// clientContext, merges each operation's evidence into one truth and publishes
// resolved operation events to COMMS_RESOLVED. Run as many as COMMS_IN has
// partitions; they share the work. Configuration is environment only; -h
// lists every variable.
package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/commsops/commsops/internal/natsconn"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/service"
	"github.com/commsops/commsops/internal/streams"
)

var version = "dev"

// Config is the resolver's whole configuration.
type Config struct {
	service.Common
	service.Debug
	Addr          string        `envconfig:"RESOLVER_ADDR" default:":8081" desc:"HTTP listen address for /healthz, /readyz, /metrics"`
	StallAfter    time.Duration `envconfig:"RESOLVER_STALL_AFTER" default:"10m" desc:"a non-terminal operation with no news for this long is reported stalled"`
	AckWait       time.Duration `envconfig:"RESOLVER_ACK_WAIT" default:"30s" desc:"redelivery delay of a message a worker did not acknowledge"`
	MaxDeliver    int           `envconfig:"RESOLVER_MAX_DELIVER" default:"10" desc:"deliveries of a failing message before it is dead-lettered"`
	MaxAckPending int           `envconfig:"RESOLVER_MAX_ACK_PENDING" default:"1024" desc:"messages in flight per partition"`
	WorkerID      string        `envconfig:"RESOLVER_WORKER_ID" desc:"worker name in logs (default: hostname-pid)"`
	Heartbeat     time.Duration `envconfig:"RESOLVER_HEARTBEAT" default:"2s" desc:"how often a worker announces itself and rebalances partitions"`
	Retention     time.Duration `envconfig:"RESOLVER_RETENTION" default:"24h" desc:"how long a key's state is kept once all its operations are terminal"`
	CommitDelay   time.Duration `envconfig:"RESOLVER_COMMIT_DELAY" default:"500ms" desc:"how long a key's applied messages wait for more of the same key before one state write acks them all (resolved events never wait)"`
}

func main() { service.Main("resolver", run) }

func run(ctx context.Context, args []string) error {
	// Step 0: configuration, logger, tracing.
	var cfg Config
	log, stopTracing, err := service.Boot(ctx, "resolver", version, args, &cfg)
	if err != nil {
		return err
	}
	// One deadline for the whole shutdown, COMMSOPS_SHUTDOWN_TIMEOUT from
	// SIGTERM (or from a failure): every step below that runs after it
	// (the worker's drain, the HTTP shutdown, the NATS drain, the tracing
	// flush) ends by it.
	shutdown := service.NewShutdownDeadline(cfg.ShutdownTimeout)
	defer shutdown.Cancel() // deferred first: runs last
	defer func() { stopTracing(shutdown.Context()) }()

	// Step 1: NATS and the streams. One deadline bounds every startup step
	// that talks to NATS (connect, streams, stream lookups, consumers): each
	// waits out a cluster electing a leader within it.
	startCtx, startDone := service.StartupContext(ctx)
	defer startDone()
	conn, err := natsconn.Connect(startCtx, cfg.Config, "commsops-resolver", log)
	if err != nil {
		return err
	}
	defer func() { conn.Close(shutdown.Context()) }()
	layout, err := streams.EnsureRetrying(startCtx, conn.JS, streams.Config{Replicas: cfg.Replicas, Partitions: cfg.Partitions}, log)
	if err != nil {
		return err
	}

	// Step 2: the worker, with its metrics.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := resolver.NewWorker(startCtx, conn.JS, layout.State, layout.Partitions, resolver.Config{
		WorkerID: cfg.WorkerID, AckWait: cfg.AckWait, MaxDeliver: cfg.MaxDeliver,
		MaxAckPending: cfg.MaxAckPending, StallAfter: cfg.StallAfter, Retention: cfg.Retention, CommitDelay: cfg.CommitDelay, Members: layout.Workers, Heartbeat: cfg.Heartbeat, Registerer: reg,
	}, log)
	if err != nil {
		return err
	}
	if err := w.Start(startCtx); err != nil {
		return err
	}
	startDone()

	// Step 3: health and metrics until SIGTERM. Then, within the one
	// shutdown deadline: drain the worker (finish and ack what it holds),
	// stop HTTP, then drain NATS (deferred above).
	srv := service.NewHTTPServer(cfg.Addr, service.HealthMux(streams.Writable(conn.JS), reg), log)
	return service.RunUntilDone(ctx, srv, w.Stop, shutdown, log)
}
