package resolver

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// setNoAck makes COMMS_RESOLVED store what is published to it without
// answering (noAck), or answer again.
func setNoAck(t *testing.T, js jetstream.JetStream, noAck bool) {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, events.StreamResolved)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.NoAck = noAck
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestLostPublishAckIsRetried: a resolved event is stored but its ack never
// comes (as when the stream leader it reached is shut down). The key does
// not wait for it forever: the publish is tried again (stored once, by its
// message id), and the key's next evidence is resolved.
func TestLostPublishAckIsRetried(t *testing.T) {
	url, nc, js, layout := onePartition(t)
	ctx := context.Background()
	ops, seq := traffic.Generate(rand.New(rand.NewPCG(7, 7)), 1, traffic.Shares{})
	if len(seq) < 2 {
		t.Fatalf("generated %d pieces of evidence, want at least 2", len(seq))
	}
	sub, err := nc.SubscribeSync(events.SubjectResolvedPrefix + events.Key(ops[0].CC) + ".*")
	if err != nil {
		t.Fatal(err)
	}

	setNoAck(t, js, true)
	_, wjs := natstest.Connect(t, url)
	w, err := NewWorker(ctx, wjs, layout.State, layout.Partitions, Config{WorkerID: "lost-ack"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})

	storeEvidence(t, js, seq[0])
	if _, err := sub.NextMsg(30 * time.Second); err != nil {
		t.Fatalf("first event not stored: %v", err)
	}
	// Stored, its ack lost: from now on the stream answers again.
	setNoAck(t, js, false)
	storeEvidence(t, js, seq[1])
	m, err := sub.NextMsg(60 * time.Second)
	if err != nil {
		t.Fatalf("the key's next evidence was not resolved: %v", err)
	}
	if _, err := sub.NextMsg(500 * time.Millisecond); err == nil {
		t.Fatalf("a third event after %s", m.Subject)
	}
	resolved, err := js.Stream(ctx, events.StreamResolved)
	if err != nil {
		t.Fatal(err)
	}
	info, err := resolved.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("COMMS_RESOLVED holds %d events, want 2 (the retried one stored once)", info.State.Msgs)
	}
}
