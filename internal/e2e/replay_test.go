package e2e

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// TestReplayRebuildsIdenticalEvents follows the documented rebuild procedure:
// stop the resolvers, ResetResolver, delete COMMS_RESOLVED (a purge would
// keep its duplicate window, which holds every id), Ensure, start again.
// Both runs resolve the traffic exactly as the model says, and replaying
// COMMS_IN from the start into empty state yields the same resolved events:
// the same ids, the same data bytes, the same order per subject and per key
// across statuses.
func TestReplayRebuildsIdenticalEvents(t *testing.T) {
	p := startPipeline(t)
	ops, seq := generate(rand.New(rand.NewPCG(3, 9)), 150)
	want, n := traffic.Expect(seq)
	w := p.startWorker("w1", resolverDefaults())
	p.publishAll(t, seq)
	p.out.waitFor(t, 60*time.Second, "first run", func(evs []resolvedEvent) bool { return len(evs) >= n })
	first := p.out.settle(300 * time.Millisecond)
	w.stop(t)
	checkAgainstModel(t, ops, want, first)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deleted, err := streams.ResetResolver(ctx, p.js)
	if err != nil {
		t.Fatal(err)
	}
	if deleted != p.layout.Partitions {
		t.Fatalf("deleted %d consumers, want %d", deleted, p.layout.Partitions)
	}
	if err := p.js.DeleteStream(ctx, events.StreamResolved); err != nil {
		t.Fatal(err)
	}
	layout, err := streams.Ensure(ctx, p.js, streams.Config{Partitions: testPartitions})
	if err != nil {
		t.Fatal(err)
	}
	p.layout = layout
	second := collect(t, p.url)
	p.startWorker("w2", resolverDefaults())
	second.waitFor(t, 60*time.Second, "replay", func(evs []resolvedEvent) bool { return len(evs) >= len(first) })
	replayed := second.settle(300 * time.Millisecond)

	checkAgainstModel(t, ops, want, replayed)
	if len(replayed) != len(first) {
		t.Fatalf("replay emitted %d events, first run %d", len(replayed), len(first))
	}
	byID := map[string]resolvedEvent{}
	for _, e := range first {
		byID[e.ID] = e
	}
	orderFirst, orderReplay := map[string][]string{}, map[string][]string{}
	keyFirst, keyReplay := map[string][]string{}, map[string][]string{}
	for i, e := range replayed {
		f, ok := byID[e.ID]
		if !ok {
			t.Fatalf("replayed event %s was not emitted by the first run", e.ID)
		}
		if string(f.Raw) != string(e.Raw) || f.Type != e.Type || f.Subject != e.Subject {
			t.Fatalf("event %s differs:\nfirst  %s\nreplay %s", e.ID, f.Raw, e.Raw)
		}
		orderFirst[first[i].Subject] = append(orderFirst[first[i].Subject], first[i].ID)
		orderReplay[e.Subject] = append(orderReplay[e.Subject], e.ID)
		kf, kr := events.Key(first[i].Data.ClientContext), events.Key(e.Data.ClientContext)
		keyFirst[kf] = append(keyFirst[kf], first[i].ID)
		keyReplay[kr] = append(keyReplay[kr], e.ID)
	}
	if len(keyFirst) != len(keyReplay) {
		t.Fatalf("%d keys on replay, %d first", len(keyReplay), len(keyFirst))
	}
	for key, ids := range keyFirst {
		if got := keyReplay[key]; !slices.Equal(got, ids) {
			t.Fatalf("key %s: replay order %v, first %v", key, got, ids)
		}
	}
	for subj, ids := range orderFirst {
		if got := orderReplay[subj]; len(got) != len(ids) {
			t.Fatalf("subject %s: %d events on replay, %d first", subj, len(got), len(ids))
		}
		for i := range ids {
			if orderReplay[subj][i] != ids[i] {
				t.Fatalf("subject %s: order differs at %d", subj, i)
			}
		}
	}
}
