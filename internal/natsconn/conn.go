package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Conn is a connection to NATS with its JetStream context, and in dev mode
// the embedded server this process started, if any.
type Conn struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Embedded *server.Server // nil unless this process started the dev server
	URL      string
	log      *slog.Logger
}

// Connect connects to NATS per cfg under the client name name. In dev mode it
// first tries to join a server already listening on 127.0.0.1:DevPort (another
// local commsops process); failing that it starts an embedded JetStream server
// there with its store under DevDir, and logs both. The connection reconnects
// forever. Close drains it and shuts down an embedded server.
func Connect(ctx context.Context, cfg Config, name string, log *slog.Logger) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Conn{log: log, URL: cfg.URL}
	if cfg.DevMode() {
		c.URL = fmt.Sprintf("nats://127.0.0.1:%d", cfg.DevPort)
		if !reachable(c.URL) {
			srv, err := StartEmbedded(cfg, log)
			if err != nil {
				return nil, err
			}
			c.Embedded = srv
		} else {
			log.Warn("dev mode: joining the embedded JetStream server of another local process", "url", c.URL)
		}
	}
	opts, err := cfg.options(name, log)
	if err != nil {
		c.shutdownEmbedded()
		return nil, err
	}
	nc, err := connectRetry(ctx, c.URL, cfg.ConnectWait, opts)
	if err != nil {
		c.shutdownEmbedded()
		return nil, fmt.Errorf("natsconn: connect %s: %w", redactURL(c.URL), err)
	}
	// Async publishes that get no ack (an outage) fail after 10s instead of
	// piling up; at most 16k may wait for acks at once.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second), jetstream.WithPublishAsyncMaxPending(16384))
	if err != nil {
		nc.Close()
		c.shutdownEmbedded()
		return nil, fmt.Errorf("natsconn: jetstream: %w", err)
	}
	c.NC, c.JS = nc, js
	log.Info("nats connected", "url", redactURL(nc.ConnectedUrlRedacted()), "name", name, "dev_mode", cfg.DevMode())
	return c, nil
}

func connectRetry(ctx context.Context, url string, wait time.Duration, opts []nats.Option) (*nats.Conn, error) {
	deadline := time.Now().Add(wait)
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		if errors.Is(err, nats.ErrAuthorization) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func reachable(url string) bool {
	nc, err := nats.Connect(url, nats.Timeout(300*time.Millisecond), nats.NoReconnect())
	if err != nil {
		return false
	}
	defer nc.Close()
	_, err = jetstream.New(nc)
	return err == nil
}

// StartEmbedded starts the dev-mode JetStream server on 127.0.0.1:DevPort
// with its store under DevDir (default <tmp>/commsops-dev) and returns it
// once it accepts connections.
func StartEmbedded(cfg Config, log *slog.Logger) (*server.Server, error) {
	dir := cfg.DevDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "commsops-dev")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("natsconn: dev store dir: %w", err)
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "commsops-dev",
		Host:       "127.0.0.1",
		Port:       cfg.DevPort,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("natsconn: embedded server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("natsconn: embedded server on 127.0.0.1:%d did not start (port taken?)", cfg.DevPort)
	}
	log.Warn("dev mode: NATS_URL is unset, started an embedded JetStream server",
		"url", srv.ClientURL(), "store_dir", dir)
	return srv, nil
}

// Close drains the connection (finishing in-flight publishes and acks) within
// ctx's deadline, then shuts down the embedded server if this process owns one.
// Safe to call on a nil Conn.
func (c *Conn) Close(ctx context.Context) {
	if c == nil {
		return
	}
	if c.NC != nil && !c.NC.IsClosed() {
		done := make(chan struct{})
		c.NC.SetClosedHandler(func(*nats.Conn) { close(done) })
		if err := c.NC.Drain(); err != nil {
			c.NC.Close()
		} else {
			select {
			case <-done:
			case <-ctx.Done():
				c.NC.Close()
			}
		}
	}
	c.shutdownEmbedded()
}

func (c *Conn) shutdownEmbedded() {
	if c.Embedded != nil {
		c.Embedded.Shutdown()
		c.Embedded.WaitForShutdown()
		c.Embedded = nil
	}
}
