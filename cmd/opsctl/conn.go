package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/natsconn"
)

// connect connects per the environment; in dev mode it joins the dev server
// and refuses to start one.
func connect(ctx context.Context) (*natsconn.Conn, error) {
	var cfg natsconn.Config
	if err := envconfig.Process("", &cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.DevMode() {
		cfg.URL = "nats://127.0.0.1:" + strconv.Itoa(cfg.DevPort)
		nc, err := nats.Connect(cfg.URL, nats.Timeout(cfg.ConnectWait))
		if err != nil {
			return nil, fmt.Errorf("no NATS at %s: start `go run ./cmd/devstack` or set NATS_URL", cfg.URL)
		}
		nc.Close()
	}
	cfg.ConnectWait = min(cfg.ConnectWait, 5e9)
	return natsconn.Connect(ctx, cfg, "commsops-opsctl", slog.New(slog.NewTextHandler(io.Discard, nil)))
}
