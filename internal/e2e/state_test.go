package e2e

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/deadletter"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/pkg/events"
)

// TestTerminalStateExpires: once every operation of a key is terminal its
// state expires after the retention; an open key's state stays.
func TestTerminalStateExpires(t *testing.T) {
	p := startPipeline(t)
	cfg := resolverDefaults()
	cfg.Retention = 2 * time.Second
	p.startWorker("w1", cfg)
	p.mustPost("/v1/responses", response("playPrompt", op{typ: "playPromptOperation", id: "0fe0623f-d628-42ed-b4bd-8ac290072cc5", cc: "done", status: "running"}, 200))
	p.mustPost("/v1/notifications", notification(op{typ: "playPromptOperation", id: "0fe0623f-d628-42ed-b4bd-8ac290072cc5", cc: "done", status: "completed"}))
	p.mustPost("/v1/responses", response("record", op{typ: "recordOperation", id: "1fe0623f-d628-42ed-b4bd-8ac290072cc5", cc: "open", status: "running"}, 200))
	p.out.waitFor(t, 10*time.Second, "events", func(evs []resolvedEvent) bool { return len(evs) >= 3 })

	ctx := context.Background()
	kv := p.layout.State
	for _, k := range []string{"done", "open"} {
		// Written within the commit delay after the events.
		for wait := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			_, err := kv.Get(ctx, events.Key(k))
			if err == nil {
				break
			}
			if time.Now().After(wait) {
				t.Fatalf("state of %s: %v", k, err)
			}
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := kv.Get(ctx, events.Key("done"))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("terminal state did not expire: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	e, err := kv.Get(ctx, events.Key("open"))
	if err != nil {
		t.Fatalf("open state expired: %v", err)
	}
	t.Logf("state of one open operation: %d bytes in KV", len(e.Value()))
}

// TestPoisonMessageDeadLettered: a message that can never be processed is
// copied to COMMS_DLQ with its reason, original headers and stream sequence,
// terminated, and does not block its key.
func TestPoisonMessageDeadLettered(t *testing.T) {
	p := startPipeline(t)
	p.startWorker("w1", resolverDefaults())
	ctx := context.Background()
	key := events.Key("poisoned")
	cases := []struct {
		name string
		msg  *nats.Msg
	}{
		{"not a CloudEvent", &nats.Msg{Subject: inbound.InSubject(graphwire.KindOperation, key), Data: []byte("garbage"),
			Header: nats.Header{"X-Original": []string{"kept"}}}},
		{"CloudEvent of an unknown type", &nats.Msg{Subject: inbound.InSubject(graphwire.KindOperation, key), Data: []byte("{}"),
			Header: nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"x1"}, "ce-source": {"/x"}, "ce-type": {"com.example.nope"}, "X-Original": {"kept"}}}},
		{"bad data", &nats.Msg{Subject: inbound.InSubject(graphwire.KindOperation, key), Data: []byte(`{"callId":1}`),
			Header: nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"x2"}, "ce-source": {"/x"}, "ce-type": {events.TypeActionResponse}, "X-Original": {"kept"}}}},
	}
	var seqs []uint64
	for _, tc := range cases {
		ack, err := p.js.PublishMsg(ctx, tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Sequence)
	}
	// The same key goes on resolving.
	p.mustPost("/v1/responses", response("mute", op{typ: "muteParticipantOperation", id: "0fe0623f-d628-42ed-b4bd-8ac290072cc5", cc: "poisoned", status: "completed"}, 200))
	p.out.waitFor(t, 10*time.Second, "the key's next event", func(evs []resolvedEvent) bool { return len(statusesOf(evs, "poisoned", "")) == 1 })

	dlq, err := p.js.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m *jetstream.RawStreamMsg
			deadline := time.Now().Add(10 * time.Second)
			for {
				m, err = dlq.GetMsg(ctx, uint64(i+1))
				if err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("dead letter %d: %v", i+1, err)
			}
			h := m.Header
			if h.Get(deadletter.HeaderReason) == "" || h.Get("X-Original") != "kept" ||
				h.Get(deadletter.HeaderSeq) != strconv.FormatUint(seqs[i], 10) || h.Get(deadletter.HeaderStream) != events.StreamIn {
				t.Fatalf("dead letter headers %v", h)
			}
			if string(m.Data) != string(tc.msg.Data) {
				t.Fatalf("dead letter body %q", m.Data)
			}
			t.Logf("reason: %s", h.Get(deadletter.HeaderReason))
		})
	}
	// Terminated: nothing pending or redelivered.
	time.Sleep(2500 * time.Millisecond) // past AckWait
	for i := 0; i < p.layout.Partitions; i++ {
		c, _ := p.js.Consumer(ctx, events.StreamIn, resolver.ConsumerName(i))
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending != 0 || info.NumRedelivered != 0 {
			t.Fatalf("partition %d: pending %d redelivered %d", i, info.NumAckPending, info.NumRedelivered)
		}
	}
}
