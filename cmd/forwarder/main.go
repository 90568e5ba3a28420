// Command forwarder pushes the resolved events of COMMS_RESOLVED to an HTTP
// sink (K_SINK, as Knative's SinkBinding sets it) as CloudEvents in HTTP
// binary content mode. Replicas share one durable consumer: one of them
// delivers at a time, the others stand by, and each clientContext's events
// reach the sink one at a time in stream order. Configuration is environment
// only; -h lists every variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/commsops/commsops/internal/forwarder"
	"github.com/commsops/commsops/internal/jsutil"
	"github.com/commsops/commsops/internal/natsconn"
	"github.com/commsops/commsops/internal/service"
	"github.com/commsops/commsops/internal/streams"
)

var version = "dev"

// Config is the forwarder's whole configuration.
type Config struct {
	service.Common
	service.Debug
	Sink        string        `envconfig:"K_SINK" desc:"the sink URL, as Knative's SinkBinding sets it (required)" secret:"userinfo"`
	Durable     string        `envconfig:"FORWARDER_DURABLE" default:"forwarder" desc:"durable consumer name; replicas with the same name share it"`
	Statuses    []string      `envconfig:"FORWARDER_STATUSES" desc:"comma list of statuses to forward (default: all)"`
	Timeout     time.Duration `envconfig:"FORWARDER_TIMEOUT" default:"10s" desc:"per delivery"`
	MaxDeliver  int           `envconfig:"FORWARDER_MAX_DELIVER" default:"10" desc:"deliveries before the event goes to COMMS_DLQ and is acked"`
	Concurrency int           `envconfig:"FORWARDER_CONCURRENCY" default:"64" desc:"clientContexts delivered concurrently (one event at a time per clientContext, in stream order)"`
	SinkToken   string        `envconfig:"FORWARDER_SINK_TOKEN" desc:"bearer token sent to the sink" secret:"true"`
	Addr        string        `envconfig:"FORWARDER_ADDR" default:":8083" desc:"HTTP listen address for /healthz, /readyz, /metrics"`
}

func main() { service.Main("forwarder", run) }

func run(ctx context.Context, args []string) error {
	// Step 0: configuration, logger, tracing.
	var cfg Config
	log, stopTracing, err := service.Boot(ctx, "forwarder", version, args, &cfg)
	if err != nil {
		return err
	}
	statuses, err := forwarder.ParseStatuses(cfg.Statuses)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if cfg.Sink == "" {
		return fmt.Errorf("config: %w: K_SINK is required", forwarder.ErrConfig)
	}
	// One deadline for the whole shutdown, COMMSOPS_SHUTDOWN_TIMEOUT from
	// SIGTERM (or from a failure).
	shutdown := service.NewShutdownDeadline(cfg.ShutdownTimeout)
	defer shutdown.Cancel() // deferred first: runs last
	defer func() { stopTracing(shutdown.Context()) }()

	// Step 1: NATS and the streams. One deadline bounds every startup step
	// that talks to NATS (connect, streams, the consumer): each waits out a
	// cluster electing a leader within it.
	startCtx, startDone := service.StartupContext(ctx)
	defer startDone()
	conn, err := natsconn.Connect(startCtx, cfg.Config, "commsops-forwarder", log)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer func() { conn.Close(shutdown.Context()) }()
	if _, err := streams.EnsureRetrying(startCtx, conn.JS, streams.Config{Replicas: cfg.Replicas, Partitions: cfg.Partitions}, log); err != nil {
		return fmt.Errorf("streams: %w", err)
	}

	// Step 2: the forwarder (its durable consumer), with its metrics.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fcfg := forwarder.Config{
		Sink: cfg.Sink, Token: cfg.SinkToken, Durable: cfg.Durable, Statuses: statuses,
		Timeout: cfg.Timeout, MaxDeliver: cfg.MaxDeliver, Concurrency: cfg.Concurrency, Registerer: reg,
	}
	var f *forwarder.Forwarder
	err = jsutil.Startup{Name: "consumer", Log: log, ShouldRetry: func(err error) bool { return !errors.Is(err, forwarder.ErrConfig) }}.
		Run(startCtx, func(ctx context.Context) error {
			var err error
			f, err = forwarder.New(ctx, conn.JS, fcfg, log)
			return err
		})
	if err != nil {
		return fmt.Errorf("forwarder: %w", err)
	}
	if err := f.Start(startCtx); err != nil {
		return err
	}
	startDone()

	// Step 3: health and metrics until SIGTERM. Then, within the one
	// shutdown deadline: finish or release the deliveries in flight, stop
	// HTTP, then drain NATS (deferred above).
	srv := service.NewHTTPServer(cfg.Addr, service.HealthMux(streams.Writable(conn.JS), reg), log)
	return service.RunUntilDone(ctx, srv, f.Stop, shutdown, log)
}
