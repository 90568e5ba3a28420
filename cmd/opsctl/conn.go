package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/natsconn"
	"github.com/commsops/commsops/internal/service"
	"github.com/commsops/commsops/pkg/events"
)

// config is opsctl's configuration: what every commsops process shares.
type config struct {
	service.Common
}

// connect connects to NATS per the environment. In dev mode (NATS_URL unset)
// it joins the dev server on 127.0.0.1:COMMSOPS_DEV_PORT and, unlike the
// other processes, never starts an embedded one: an operator's tool must not
// make up an empty pipeline.
func connect(ctx context.Context, errOut io.Writer) (*natsconn.Conn, error) {
	var cfg config
	if err := envconfig.Process("", &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w (opsctl -h lists the variables)", err)
	}
	level := "warn" // connection trouble, not the routine "connected"
	if _, set := os.LookupEnv("COMMSOPS_LOG_LEVEL"); set {
		level = cfg.LogLevel
	}
	log := service.NewLogger(errOut, cfg.LogFormat, level, true, "opsctl")
	nc := cfg.Config
	if nc.DevMode() {
		nc.URL = "nats://127.0.0.1:" + strconv.Itoa(nc.DevPort)
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(nc.DevPort), 2*time.Second)
		if err != nil {
			return nil, fmt.Errorf("no NATS at %s: start `go run ./cmd/devstack` or set NATS_URL", nc.URL)
		}
		c.Close()
	}
	conn, err := natsconn.Connect(ctx, nc, "commsops-opsctl", log)
	if err != nil {
		if errors.Is(err, natsconn.ErrConfig) {
			return nil, fmt.Errorf("%w (opsctl -h lists the variables)", err)
		}
		// NATS_URL may hold a user:password or a token: never quote it whole.
		return nil, fmt.Errorf("no NATS at %s (%w): check NATS_URL, that the server runs and the credentials (NATS_CREDS, NATS_USER, ...)", natsconn.RedactURL(nc.URL), err)
	}
	return conn, nil
}

// closeConn drains the connection, for at most 5s.
func closeConn(conn *natsconn.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Close(ctx)
}

// stream looks a stream up, saying what to do when it is not there.
func stream(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("stream %s does not exist on this NATS: has the pipeline run against it? (`go run ./cmd/devstack`, or cmd/ingest and cmd/resolver, create it)", name)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return nil, fmt.Errorf("JetStream is not enabled on this NATS (for this account): commsops needs it")
	case err != nil:
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	return s, nil
}

// keyValue looks the state bucket up, saying what to do when it is not there.
func keyValue(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, events.BucketState)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("bucket %s does not exist on this NATS: no resolver has run against it yet (`go run ./cmd/devstack` or cmd/resolver)", events.BucketState)
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", events.BucketState, err)
	}
	return kv, nil
}
