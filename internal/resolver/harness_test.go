package resolver

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// onePartition runs a server with the streams over one COMMS_IN partition
// and returns its URL, a client and the layout.
func onePartition(t *testing.T) (string, *nats.Conn, jetstream.JetStream, *streams.Layout) {
	t.Helper()
	srv := natstest.Run(t)
	nc, js := natstest.Connect(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	layout, err := streams.Ensure(ctx, js, streams.Config{Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL(), nc, js, layout
}

// storeEvidence stores e's events in COMMS_IN, as the ingest would.
func storeEvidence(t *testing.T, js jetstream.JetStream, e traffic.Evidence) {
	t.Helper()
	in, err := e.Inbound()
	if err != nil {
		t.Fatal(err)
	}
	if err := inbound.Store(context.Background(), js, events.DefaultStoreTimeout, in); err != nil {
		t.Fatal(err)
	}
}
