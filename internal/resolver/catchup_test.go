package resolver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// TestCatchUpReadsWhatTheLeaderHolds: messages delivered to an earlier owner
// and not acked are caught up by the next one even when a replica behind the
// leader answers reads for the stream. A mirror holding none of them answers
// direct gets for COMMS_IN, as a restarted replica does once 90% caught up:
// a catch-up reading through it would stop early and apply the keys' newer
// evidence first. Each key's events must come in its evidence's order.
func TestCatchUpReadsWhatTheLeaderHolds(t *testing.T) {
	const keys = 8
	url, nc, js, layout := onePartition(t)
	ctx := context.Background()
	// The replica behind: it answers direct gets for COMMS_IN (once it has
	// mirrored a message) and holds none of its operation evidence.
	if _, err := js.Publish(ctx, events.SubjectInPrefix+"other.behind", nil); err != nil {
		t.Fatal(err)
	}
	behind, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "COMMS_IN_BEHIND",
		Mirror: &jetstream.StreamSource{Name: events.StreamIn, FilterSubject: subjects.InFilter(-1, "other")}, MirrorDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); behind.CachedInfo().State.Msgs == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the mirror mirrored nothing")
		}
		time.Sleep(10 * time.Millisecond)
		if _, err := behind.Info(ctx); err != nil {
			t.Fatal(err)
		}
	}

	_, wjs := natstest.Connect(t, url)
	w, err := NewWorker(ctx, wjs, layout.State, layout.Partitions, Config{WorkerID: "next-owner"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamIn, w.ConsumerConfig(0))
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]*traffic.Operation, keys)
	for i := range ops {
		ops[i] = &traffic.Operation{CC: fmt.Sprintf("catch-up-%d", i), ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i),
			Type: "playPromptOperation", Action: "playPrompt", Call: traffic.CallID}
	}
	sub, err := nc.SubscribeSync(events.SubjectResolvedPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}

	// The earlier owner: it takes every key's first evidence and dies
	// without acking (its pin is released, as at its pin's timeout).
	for i, op := range ops {
		storeEvidence(t, js, traffic.Evidence{Op: op, Response: true, Status: "running", ETag: 2 * i})
	}
	batch, err := cons.Fetch(keys, jetstream.FetchMaxWait(5*time.Second), jetstream.FetchPriorityGroup(PriorityGroup))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for range batch.Messages() {
		got++
	}
	if got != keys {
		t.Fatalf("the earlier owner took %d messages, want %d (err %v)", got, keys, batch.Error())
	}
	s, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UnpinConsumer(ctx, ConsumerName(0), PriorityGroup); err != nil {
		t.Fatal(err)
	}
	// Each key's next evidence, then the next owner starts: its first
	// delivery is the first of these, and it catches up on the rest first.
	for i, op := range ops {
		storeEvidence(t, js, traffic.Evidence{Op: op, Status: "completed", ETag: 2*i + 1})
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})

	// Once every key's completed event is in, each key's running event must
	// be before it (a key's events are published in order).
	statuses := map[string][]events.Status{}
	for completed := 0; completed < keys; {
		m, err := sub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("%d of %d completed events: %v; so far %v", completed, keys, err, statuses)
		}
		e, err := events.DecodeMsg(m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		var data events.ResolvedOperation
		if err := json.Unmarshal(e.Data(), &data); err != nil {
			t.Fatal(err)
		}
		statuses[data.ClientContext] = append(statuses[data.ClientContext], data.Status)
		if data.Status == events.StatusCompleted {
			completed++
		}
	}
	for _, op := range ops {
		if got := statuses[op.CC]; len(got) != 2 || got[0] != events.StatusRunning || got[1] != events.StatusCompleted {
			t.Errorf("%s: events %v, want [running completed]", op.CC, got)
		}
	}
}
