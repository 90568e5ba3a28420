// Command graphsim is a local stand-in for Microsoft Graph's calls API and
// its callbacks, for development and tests: a bot creates calls and sends
// actions to it as to Graph, and receives signed commsNotifications
// callbacks, with Graph's faults injected on demand. Configuration is
// environment only; -h lists every variable.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/commsops/commsops/internal/graphsim"
	"github.com/commsops/commsops/internal/service"
)

var version = "dev"

// Config is the simulator's whole configuration.
type Config struct {
	Addr        string        `envconfig:"GRAPHSIM_ADDR" default:"127.0.0.1:9090" desc:"listen address"`
	CallbackURL string        `envconfig:"GRAPHSIM_CALLBACK_URL" default:"http://127.0.0.1:8080/v1/notifications" desc:"callbacks of calls created without a callbackUri"`
	Audience    string        `envconfig:"GRAPHSIM_AUDIENCE" default:"commsops-dev" desc:"aud of the callbacks' JWTs (the ingest's INGEST_JWT_AUDIENCE)"`
	Issuer      string        `envconfig:"GRAPHSIM_ISSUER" default:"https://api.botframework.com" desc:"iss of the callbacks' JWTs (one of the ingest's INGEST_JWT_ISSUERS)"`
	Tenant      string        `envconfig:"GRAPHSIM_TENANT" default:"6f0c8d1e-2b3a-4c5d-9e8f-7a6b5c4d3e2f" desc:"tid of the callbacks' JWTs"`
	Faults      string        `envconfig:"GRAPHSIM_FAULTS" desc:"faults, e.g. race=0.3,duplicate=0.2,reorder=0.1,deleted=1,casing=0.1,array=0.1,nullid=0.05,multi=0.1,dropfinal=0,delay=20ms (default none)"`
	Seed        string        `envconfig:"GRAPHSIM_SEED" desc:"seed of ids and faults, for a repeatable run (default random, logged)"`
	Step        time.Duration `envconfig:"GRAPHSIM_STEP" default:"50ms" desc:"time between an operation's statuses"`
	Retry       string        `envconfig:"GRAPHSIM_RETRY" default:"5x200ms" desc:"redeliveries of a callback not answered 2xx, and their first backoff"`

	ShutdownTimeout time.Duration `envconfig:"COMMSOPS_SHUTDOWN_TIMEOUT" default:"20s" desc:"deadline for shutting down after SIGTERM"`
	LogFormat       string        `envconfig:"COMMSOPS_LOG_FORMAT" default:"text" desc:"json or text"`
	LogLevel        string        `envconfig:"COMMSOPS_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
}

func main() { service.Main("graphsim", run) }

func run(ctx context.Context, args []string) error {
	// Step 0: configuration and logger.
	var cfg Config
	if err := service.Load("graphsim", args, &cfg, os.Stdout, nil); err != nil {
		return err
	}
	log := service.NewLogger(os.Stderr, cfg.LogFormat, cfg.LogLevel, true, "graphsim")
	log.Info("starting", append([]any{"version", version}, service.Redacted(&cfg)...)...)
	faults, err := graphsim.ParseFaults(cfg.Faults)
	if err != nil {
		return fmt.Errorf("GRAPHSIM_FAULTS: %w", err)
	}
	retry, err := graphsim.ParseRetry(cfg.Retry)
	if err != nil {
		return fmt.Errorf("GRAPHSIM_RETRY: %w", err)
	}
	seed, err := parseSeed(cfg.Seed)
	if err != nil {
		return err
	}
	// One deadline for the whole shutdown, COMMSOPS_SHUTDOWN_TIMEOUT from
	// SIGTERM (or from a failure): the callbacks' stop and the HTTP
	// shutdown both end by it.
	shutdown := service.NewShutdownDeadline(cfg.ShutdownTimeout)
	defer shutdown.Cancel()

	// Step 1: the simulator and its signing key.
	sim, err := graphsim.New(graphsim.Config{
		CallbackURL: cfg.CallbackURL, Audience: cfg.Audience, Issuer: cfg.Issuer, Tenant: cfg.Tenant,
		Faults: faults, Seed: seed, Step: cfg.Step, Retry: retry, Log: log,
	})
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	log.Info("simulator ready", "seed", seed, "faults", faults.String(), "retry", retry.String(), "step", cfg.Step)

	// Step 2: HTTP.
	srv := service.NewHTTPServer(cfg.Addr, sim.Handler(), log)
	addr, errc, err := service.Serve(srv)
	if err != nil {
		_ = sim.Close(shutdown.Context())
		return err
	}
	log.Info("listening", "addr", addr.String(),
		"openid_config", "http://"+addr.String()+graphsim.OpenIDConfigPath,
		"graph", "http://"+addr.String()+"/v1.0/communications/calls")

	select {
	case err := <-errc:
		_ = sim.Close(shutdown.Context())
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	// Shutdown: stop the callbacks (releasing held responses), then HTTP,
	// within the one deadline.
	log.Info("shutting down", "deadline", cfg.ShutdownTimeout)
	sctx := shutdown.Context()
	cerr := sim.Close(sctx)
	return errors.Join(cerr, service.Shutdown(sctx, srv))
}

// parseSeed returns GRAPHSIM_SEED as a number, or a random one when empty.
func parseSeed(s string) (uint64, error) {
	if s == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return binary.LittleEndian.Uint64(b[:]), nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GRAPHSIM_SEED=%q: not a whole number", s)
	}
	return n, nil
}
