package natsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
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
	URL      string         // as configured (dev mode: the embedded server's): may embed credentials, log RedactedURL
	log      *slog.Logger
}

// RedactedURL is URL without the user information (user:password or token) of
// any of its servers, fit for logs and error messages.
func (c *Conn) RedactedURL() string { return RedactURL(c.URL) }

// Connect connects to NATS per cfg under the client name name. In dev mode it
// first tries to join a server already listening on 127.0.0.1:DevPort (another
// local commsops process); failing that it starts an embedded JetStream server
// there with its store under DevDir, and logs both. A failed first connection
// is retried for cfg.ConnectWait (the server may be starting) unless the
// failure would repeat (refused credentials, a missing file, an untrusted
// server certificate). Once connected, the connection reconnects forever.
// Neither the error nor the log quote a password, token or seed. Close drains
// the connection and shuts down an embedded server.
func Connect(ctx context.Context, cfg Config, name string, log *slog.Logger) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Conn{log: log, URL: cfg.URL}
	if cfg.DevMode() {
		c.URL = fmt.Sprintf("nats://127.0.0.1:%d", cfg.DevPort)
		if reachable(c.URL) {
			log.Warn("dev mode: joining the embedded JetStream server of another local process", "url", c.URL)
		} else {
			srv, err := StartEmbedded(cfg, log)
			switch {
			case err == nil:
				c.Embedded = srv
			case reachable(c.URL):
				// Another process started at the same moment and won the port.
				log.Warn("dev mode: joining the embedded JetStream server another local process started meanwhile", "url", c.URL)
			default:
				return nil, err
			}
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
		return nil, fmt.Errorf("natsconn: connect %s: %w", RedactURL(c.URL), err)
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
	log.Info("nats connected", "url", RedactURL(nc.ConnectedUrlRedacted()), "name", name, "dev_mode", cfg.DevMode())
	return c, nil
}

func connectRetry(ctx context.Context, url string, wait time.Duration, opts []nats.Option) (*nats.Conn, error) {
	deadline := time.Now().Add(wait)
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		if permanent(err) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// permanent reports whether a failed connection attempt would fail again the
// same way: refused credentials, a file (creds, seed, certificate, key, CA)
// that is missing or unreadable, or a server certificate this client does not
// trust. Waiting for the server to come up (ConnectWait) is then pointless.
func permanent(err error) bool {
	var untrusted *tls.CertificateVerificationError
	return errors.Is(err, nats.ErrAuthorization) ||
		errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) ||
		errors.Is(err, nats.ErrAccountAuthExpired) ||
		errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, fs.ErrPermission) ||
		errors.As(err, &untrusted)
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
	if log == nil {
		log = slog.Default()
	}
	dir := cfg.DevDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "commsops-dev")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("natsconn: dev store dir: %w", err)
	}
	// The server does not report a port it cannot listen on, it only never
	// gets ready: find out now rather than after ReadyForConnections' wait.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.DevPort))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("natsconn: dev mode: cannot listen on %s (taken by something that is not a NATS server?): %w", addr, err)
	}
	l.Close()
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
