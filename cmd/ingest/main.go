// Command ingest receives Microsoft Graph notification callbacks and bots'
// action responses over HTTP, authenticates them and stores each as a
// CloudEvent in JetStream (COMMS_IN), answering 202 only once stored.
// Configuration is environment only; -h lists every variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/natsconn"
	"github.com/commsops/commsops/internal/opsapi"
	"github.com/commsops/commsops/internal/service"
	"github.com/commsops/commsops/internal/streams"
)

var version = "dev"

// Config is the ingest's whole configuration.
type Config struct {
	service.Common
	service.Debug
	Addr            string        `envconfig:"INGEST_ADDR" default:":8080" desc:"HTTP listen address"`
	Auth            string        `envconfig:"INGEST_AUTH" desc:"graph (verify Graph's bearer JWT) or none (default graph; none in dev mode)"`
	JWTAudience     string        `envconfig:"INGEST_JWT_AUDIENCE" desc:"the bot's app id: required aud of Graph's JWT"`
	JWTIssuers      []string      `envconfig:"INGEST_JWT_ISSUERS" default:"https://api.botframework.com,https://graph.microsoft.com" desc:"accepted iss values"`
	OpenIDConfigURL string        `envconfig:"INGEST_OPENID_CONFIG_URL" default:"https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration" desc:"OpenID configuration whose jwks_uri holds Graph's signing keys"`
	Tenants         []string      `envconfig:"INGEST_TENANTS" desc:"accepted tid values (empty: any tenant)"`
	ResponseTokens  []string      `envconfig:"INGEST_RESPONSE_TOKENS" desc:"bearer tokens accepted on /v1/responses (required with graph auth)" secret:"true"`
	MaxBodyBytes    int64         `envconfig:"INGEST_MAX_BODY_BYTES" default:"1048576" desc:"largest accepted request body (lowered to the NATS server's max_payload minus 8 KiB of headers)"`
	MaxConns        int           `envconfig:"INGEST_MAX_CONNS" default:"1024" desc:"most HTTP connections open at once; more wait in the listen backlog"`
	StoreTimeout    time.Duration `envconfig:"INGEST_STORE_TIMEOUT" default:"2500ms" desc:"longest wait for JetStream to store a request before answering 503"`
	APIAddr         string        `envconfig:"INGEST_API_ADDR" default:":8082" desc:"internal listener of the operations API and POST /v1/responses (never expose it); off disables it"`
}

func main() { service.Main("ingest", run) }

// bodyLimit returns the largest body the ingest accepts: INGEST_MAX_BODY_BYTES,
// lowered (and logged) to the server's max_payload minus the room of an
// event's headers (inbound.MaxHeaderBytes), so that every event a body makes
// fits in one message. A body over it is refused with 413; without the
// cap it would be refused by the server after the ingest accepted it, and
// answered 503, which Graph retries forever.
func bodyLimit(configured, maxPayload int64, log *slog.Logger) (int64, error) {
	if configured <= 0 {
		return 0, fmt.Errorf("INGEST_MAX_BODY_BYTES=%d: must be positive", configured)
	}
	limit := maxPayload - inbound.MaxHeaderBytes
	if limit <= 0 {
		return 0, fmt.Errorf("the NATS server's max_payload of %d bytes leaves no room for a body beside %d bytes of headers", maxPayload, inbound.MaxHeaderBytes)
	}
	if configured <= limit {
		return configured, nil
	}
	log.Info("INGEST_MAX_BODY_BYTES lowered to fit the NATS server's max_payload",
		"configured", configured, "max_body_bytes", limit, "max_payload", maxPayload, "header_room", inbound.MaxHeaderBytes)
	return limit, nil
}

func run(ctx context.Context, args []string) error {
	// Step 0: configuration, logger, tracing.
	var cfg Config
	log, stopTracing, err := service.Boot(ctx, "ingest", version, args, &cfg)
	if err != nil {
		return err
	}
	if cfg.StoreTimeout <= 0 {
		return fmt.Errorf("INGEST_STORE_TIMEOUT %v must be positive", cfg.StoreTimeout)
	}
	// One deadline for the whole shutdown, COMMSOPS_SHUTDOWN_TIMEOUT from
	// SIGTERM (or from a failure): every step below that runs after it
	// (the HTTP shutdown with its in-flight requests, the NATS drain, the
	// tracing flush) ends by it.
	shutdown := service.NewShutdownDeadline(cfg.ShutdownTimeout)
	defer shutdown.Cancel() // deferred first: runs last
	defer func() { stopTracing(shutdown.Context()) }()

	// Step 1: authentication, before anything listens.
	auth := strings.ToLower(strings.TrimSpace(cfg.Auth))
	if auth == "" {
		auth = "graph"
		if cfg.DevMode() {
			auth = "none"
		}
	}
	notifAuth, respAuth, closeAuth, err := authenticators(ctx, auth, cfg, log)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer closeAuth()

	// Step 2: NATS and the streams. One deadline bounds every startup step
	// that talks to NATS (connect, streams): each waits out a cluster
	// electing a leader within it.
	startCtx, startDone := service.StartupContext(ctx)
	defer startDone()
	conn, err := natsconn.Connect(startCtx, cfg.Config, "commsops-ingest", log)
	if err != nil {
		return err
	}
	defer func() { conn.Close(shutdown.Context()) }()
	layout, err := streams.EnsureRetrying(startCtx, conn.JS, streams.Config{Replicas: cfg.Replicas, Partitions: cfg.Partitions}, log)
	if err != nil {
		return err
	}
	startDone()
	log.Info("streams ready", "partitions", layout.Partitions, "replicas", cfg.Replicas)
	maxBody, err := bodyLimit(cfg.MaxBodyBytes, conn.NC.MaxPayload(), log)
	if err != nil {
		return err
	}

	// Step 3: HTTP.
	store := inbound.Storer{JS: conn.JS, Timeout: cfg.StoreTimeout}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h, err := ingest.NewHandler(ingest.Options{
		Store:            store,
		Ready:            streams.Writable(conn.JS),
		NotificationAuth: notifAuth,
		ResponseAuth:     respAuth,
		MaxBodyBytes:     maxBody,
		StoreTimeout:     cfg.StoreTimeout,
		Registry:         reg,
		Log:              log,
	})
	if err != nil {
		return err
	}
	srv := service.NewHTTPServer(cfg.Addr, h, log)
	addr, errc, err := serve(srv, cfg.MaxConns)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", addr.String(), "auth", auth, "max_body_bytes", maxBody, "max_conns", cfg.MaxConns)

	// Step 4: the operations API on the internal listener.
	var apiAuth func(*http.Request) error
	if respAuth != nil {
		apiAuth = respAuth.Authenticate
	}
	apiSrv, apiAddr, apiErrc, err := opsapi.Start(conn.JS, cfg.APIAddr, opsapi.Options{Auth: apiAuth, Responses: h, Registry: reg, Log: log})
	if err != nil {
		_ = srv.Close()
		return err
	}
	if apiSrv != nil {
		log.Info("operations API listening", "addr", apiAddr.String())
	} else {
		log.Info("operations API off")
	}

	// Wait, then shut down within the deadline: finish in-flight requests
	// (each waits for its acks; blocking queries and streams are ended),
	// then drain NATS (deferred above) in what is left of it.
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case err := <-apiErrc:
		return fmt.Errorf("operations API: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "deadline", cfg.ShutdownTimeout)
	sctx := shutdown.Context()
	var apiErr error
	if apiSrv != nil {
		apiErr = service.Shutdown(sctx, apiSrv)
	}
	return errors.Join(service.Shutdown(sctx, srv), apiErr)
}
