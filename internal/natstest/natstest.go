// Package natstest runs real nats-server instances with JetStream inside a
// test process: a single file-backed server, restartable on the same store and
// port, and clusters. Nothing here mocks the broker.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is an embedded JetStream server owned by one test.
type Server struct {
	*server.Server
	Opts *server.Options
	t    testing.TB
}

// Option adjusts the server options before start.
type Option func(*server.Options)

// Run starts a file-backed JetStream server on a free loopback port with its
// store in a test temp dir, and shuts it down at test cleanup.
func Run(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := &server.Options{
		ServerName: "test",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
	}
	for _, opt := range opts {
		opt(o)
	}
	s := &Server{Opts: o, t: t}
	s.start()
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	srv, err := server.NewServer(s.Opts)
	if err != nil {
		s.t.Fatalf("natstest: new server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.t.Fatalf("natstest: server not ready")
	}
	s.Server = srv
	if s.Opts.Port == -1 {
		// Keep the port so a restart comes back at the same address.
		s.Opts.Port = srv.Addr().(*net.TCPAddr).Port
	}
}

// Shutdown stops the server and waits until it is down. Safe to call twice.
func (s *Server) Shutdown() {
	if s.Server != nil {
		s.Server.Shutdown()
		s.Server.WaitForShutdown()
	}
}

// Restart shuts the server down and starts it again on the same port and store.
func (s *Server) Restart() {
	s.t.Helper()
	s.Shutdown()
	s.start()
}

// URL returns the client URL ("nats://127.0.0.1:port").
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Opts.Port) }

// Connect returns a connection and JetStream context to url that reconnect
// forever, closed at test cleanup.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}
