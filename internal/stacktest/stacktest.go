// Package stacktest runs the whole pipeline inside a test: an embedded
// JetStream server with the streams, one resolver worker and the ingest's
// handler on a loopback HTTP server, without authentication. Tests of what
// sits around the pipeline (example bots, the Graph simulator) use it.
package stacktest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// Stack is a running pipeline, stopped at test cleanup.
type Stack struct {
	// NATS is the embedded server; NATSURL its client URL.
	NATS    *natstest.Server
	NATSURL string
	// JS is a JetStream context on it for the test's own reads.
	JS jetstream.JetStream
	// IngestURL is the ingest's base URL: POST IngestURL+"/v1/notifications".
	IngestURL string
}

// Run starts the pipeline with resolver settings cfg (zero: defaults, with a
// 10ms commit delay so that tests do not wait for acks).
func Run(t testing.TB, cfg resolver.Config) *Stack {
	t.Helper()
	srv := natstest.Run(t)
	_, js := natstest.Connect(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	layout, err := streams.Ensure(ctx, js, streams.Config{Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if cfg.Members == nil {
		cfg.Members = layout.Workers
	}
	if cfg.CommitDelay == 0 {
		cfg.CommitDelay = 10 * time.Millisecond
	}
	w, err := resolver.NewWorker(ctx, js, layout.State, layout.Partitions, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(sctx)
	})
	store := inbound.Storer{JS: js, Timeout: events.DefaultStoreTimeout}
	h, err := ingest.NewHandler(ingest.Options{Store: store, Ready: streams.Writable(js), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &Stack{NATS: srv, NATSURL: srv.URL(), JS: js, IngestURL: hs.URL}
}

// Streams starts an embedded JetStream server with the pipeline's streams and
// bucket (two partitions) and returns it with a JetStream context on it: the
// setup of the tests that need the streams but no pipeline.
func Streams(t testing.TB) (*natstest.Server, jetstream.JetStream) {
	t.Helper()
	srv := natstest.Run(t)
	_, js := natstest.Connect(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := streams.Ensure(ctx, js, streams.Config{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	return srv, js
}

// ResolvedConsumers returns the names of COMMS_RESOLVED's consumers: tests
// wait for a subscriber's consumer to exist before they publish.
func ResolvedConsumers(t testing.TB, js jetstream.JetStream) map[string]bool {
	t.Helper()
	ctx := context.Background()
	stream, err := js.Stream(ctx, events.StreamResolved)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	lister := stream.ConsumerNames(ctx)
	for n := range lister.Name() {
		names[n] = true
	}
	if err := lister.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}
