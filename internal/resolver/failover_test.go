package resolver

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
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

// startOn starts a worker with its own connection to url (closing it kills
// the worker) and stops it at cleanup.
func startOn(t *testing.T, url string, layout *streams.Layout, members jetstream.KeyValue, cfg Config) (*Worker, *nats.Conn) {
	t.Helper()
	nc, js := natstest.Connect(t, url)
	kv, err := js.KeyValue(context.Background(), events.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	if members != nil {
		if cfg.Members, err = js.KeyValue(context.Background(), members.Bucket()); err != nil {
			t.Fatal(err)
		}
	}
	w, err := NewWorker(context.Background(), js, kv, layout.Partitions, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	return w, nc
}

// resolveOne publishes the evidence of one new operation and returns when
// its first resolved event is in COMMS_RESOLVED.
func resolveOne(t *testing.T, nc *nats.Conn, js jetstream.JetStream, r *rand.Rand) {
	t.Helper()
	ops, seq := traffic.Generate(r, 1, traffic.Shares{})
	sub, err := nc.SubscribeSync(events.SubjectResolvedPrefix + events.Key(ops[0].CC) + ".*")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	in, err := traffic.Inbounds(seq)
	if err != nil {
		t.Fatal(err)
	}
	if err := inbound.Store(context.Background(), js, events.DefaultStoreTimeout, in); err != nil {
		t.Fatal(err)
	}
	// Generous for a loaded -race suite, and well under the tests' PinnedTTL:
	// a takeover that waited for the server's unpinning would not make it.
	if _, err := sub.NextMsg(30 * time.Second); err != nil {
		t.Fatalf("no resolved event for clientContext %s: %v", ops[0].CC, err)
	}
}

// pinOf returns the pin id the server holds for partition 0.
func pinOf(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	c, err := js.Consumer(context.Background(), events.StreamIn, ConsumerName(0))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range info.PriorityGroups {
		if g.Group == PriorityGroup {
			return g.PinnedClientID
		}
	}
	return ""
}

// await polls cond until it holds, failing the test after d.
func await(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKilledOwnerIsTakenOver: the worker that owns partition 0 (by
// rendezvous) and holds its pin is killed while its heartbeat is still in
// the workers bucket, as it is for a few heartbeats after a kill -9. Its
// probe is answered "no responders", so the other worker unpins the
// partition at once (the server's PinnedTTL, a minute here, never comes
// into it), resolves the new evidence, and keeps the partition through its
// balancing rounds: the dead owner is not yielded to though its heartbeat
// says it is live.
func TestKilledOwnerIsTakenOver(t *testing.T) {
	url, nc, js, layout := onePartition(t)
	ctx := context.Background()
	// A bucket of its own, so that the test keeps the dead worker's
	// heartbeat fresh for as long as it runs.
	members, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "TEST_WORKERS", Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	// An id that owns partition 0 against "survivor".
	victimID := "victim"
	for i := 0; PartitionOwner(0, []string{victimID, "survivor"}) != victimID; i++ {
		victimID = "victim-" + strconv.Itoa(i)
	}
	cfg := Config{Heartbeat: 100 * time.Millisecond, PinnedTTL: time.Minute}
	cfg.WorkerID = victimID
	victim, victimConn := startOn(t, url, layout, members, cfg)
	r := rand.New(rand.NewPCG(2, 2))
	resolveOne(t, nc, js, r)
	await(t, 10*time.Second, "partition 0 active on its owner", func() bool { return slices.Contains(victim.Active(), 0) })
	cfg.WorkerID = "survivor"
	survivor, _ := startOn(t, url, layout, members, cfg)
	// The survivor has heard the victim report its pin.
	await(t, 10*time.Second, "the victim's pin known to the survivor", func() bool {
		survivor.parts.mu.Lock()
		defer survivor.parts.mu.Unlock()
		return survivor.parts.peerPins[victimID][0] != ""
	})

	// Kill: the connection is gone, the heartbeat stays fresh.
	zombie, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for zombie.Err() == nil {
			_, _ = members.PutString(zombie, victimID, time.Now().UTC().Format(time.RFC3339Nano))
			select {
			case <-zombie.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	killed := time.Now()
	victimConn.Close()
	resolveOne(t, nc, js, r)
	t.Logf("first event after the kill: %v (PinnedTTL %v)", time.Since(killed).Round(time.Millisecond), cfg.PinnedTTL)
	// That evidence may have gone to the victim as it died and been resolved
	// by the takeover's catch-up, with no pin since: the next is the
	// survivor's delivery.
	resolveOne(t, nc, js, r)
	pin := pinOf(t, js)
	rounds := survivor.parts.rounds.Load()
	await(t, 30*time.Second, "three balancing rounds of the survivor", func() bool { return survivor.parts.rounds.Load() >= rounds+3 })
	if got := pinOf(t, js); got != pin || got == "" {
		t.Fatalf("pin %q after the survivor's balancing rounds, want %q kept", got, pin)
	}
	if !slices.Contains(survivor.Active(), 0) {
		t.Fatalf("survivor Active() = %v, want partition 0 kept", survivor.Active())
	}
	resolveOne(t, nc, js, r)
}

// TestKilledOwnersUnackedMessagesAreResolved: the owner of partition 0 has
// received an operation's evidence and is killed before it acks. Nothing is
// left to deliver, so no new pin would start a catch-up before the ack wait
// (a minute here) redelivers; the survivor's takeover catches up on those
// messages and resolves the operation at once. The killed owner is a bare
// pull of the priority group that answers liveness probes as a worker would.
func TestKilledOwnersUnackedMessagesAreResolved(t *testing.T) {
	url, nc, js, layout := onePartition(t)
	ctx := context.Background()
	members, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "TEST_WORKERS", Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	victimID := "victim"
	for i := 0; PartitionOwner(0, []string{victimID, "survivor"}) != victimID; i++ {
		victimID = "victim-" + strconv.Itoa(i)
	}
	cfg := Config{Heartbeat: 100 * time.Millisecond, PinnedTTL: time.Minute, AckWait: time.Minute, Members: members, WorkerID: "survivor"}
	kv, err := js.KeyValue(ctx, events.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	shape, err := NewWorker(ctx, js, kv, layout.Partitions, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, events.StreamIn, shape.ConsumerConfig(0)); err != nil {
		t.Fatal(err)
	}

	// The victim takes the pin with the evidence of one operation, unacked.
	victimConn, victimJS := natstest.Connect(t, url)
	ops, seq := traffic.Generate(rand.New(rand.NewPCG(3, 3)), 1, traffic.Shares{})
	in, err := traffic.Inbounds(seq)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := nc.SubscribeSync(events.SubjectResolvedPrefix + events.Key(ops[0].CC) + ".*")
	if err != nil {
		t.Fatal(err)
	}
	if err := inbound.Store(ctx, js, events.DefaultStoreTimeout, in); err != nil {
		t.Fatal(err)
	}
	vc, err := victimJS.Consumer(ctx, events.StreamIn, ConsumerName(0))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := vc.Fetch(len(in), jetstream.FetchPriorityGroup(PriorityGroup), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var pin string
	got := 0
	for m := range batch.Messages() {
		pin = m.Headers().Get("Nats-Pin-Id")
		got++
	}
	if got != len(in) || pin == "" {
		t.Fatalf("victim received %d of %d messages under pin %q", got, len(in), pin)
	}
	if _, err := victimConn.Subscribe(aliveSubject(victimID), func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"0":"` + pin + `"}`))
	}); err != nil {
		t.Fatal(err)
	}
	zombie, stopZombie := context.WithCancel(ctx)
	defer stopZombie()
	go func() {
		for zombie.Err() == nil {
			_, _ = members.PutString(zombie, victimID, time.Now().UTC().Format(time.RFC3339Nano))
			select {
			case <-zombie.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	cfg.Members = nil // startOn opens the bucket on the worker's connection
	survivor, _ := startOn(t, url, layout, members, cfg)
	await(t, 10*time.Second, "the victim's pin known to the survivor", func() bool {
		survivor.parts.mu.Lock()
		defer survivor.parts.mu.Unlock()
		return survivor.parts.peerPins[victimID][0] == pin
	})
	if _, err := resolved.NextMsg(0); err == nil {
		t.Fatal("resolved before the kill: the victim's pin did not hold")
	}
	victimConn.Close()
	// Well under the ack wait: only the takeover's catch-up gets it here.
	if _, err := resolved.NextMsg(20 * time.Second); err != nil {
		t.Fatalf("no resolved event for the victim's unacked evidence: %v", err)
	}
}
