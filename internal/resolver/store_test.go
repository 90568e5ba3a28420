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
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// TestStateStoreEviction: a full cache evicts a key that keep allows, never
// one it keeps (work queued, or a batch not committed).
func TestStateStoreEviction(t *testing.T) {
	kept := map[string]bool{"busy": true, "dirty": true}
	s := newStateStore(nil, nil, 0, 3, func(key string) bool { return kept[key] })
	for _, key := range []string{"busy", "dirty", "idle"} {
		s.put(key, &cachedState{st: &KeyState{Key: key}})
	}
	s.put("new", &cachedState{st: &KeyState{Key: "new"}})
	for key, want := range map[string]bool{"busy": true, "dirty": true, "idle": false, "new": true} {
		if got := s.cached(key) != nil; got != want {
			t.Errorf("%s cached: %v, want %v", key, got, want)
		}
	}
	s.forget("busy")
	if s.cached("busy") != nil {
		t.Error("forget left the state")
	}
	s.forgetAll()
	if s.cached("dirty") != nil || s.cached("new") != nil {
		t.Error("forgetAll left states")
	}
}

// TestStateReadFromTheLeader: a key's state is loaded as its bucket's leader
// holds it even when a replica behind the leader answers reads for the
// bucket (a mirror holding none of the states answers its direct gets). A
// late action response of an operation already completed is absorbed, not
// applied to an older state: that would publish a notStarted event after
// the completed one before the compare-and-swap found the state newer.
func TestStateReadFromTheLeader(t *testing.T) {
	const keys = 8
	url, nc, js, layout := onePartition(t)
	ctx := context.Background()
	sub, err := nc.SubscribeSync(events.SubjectResolvedPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	// next returns the next resolved event's clientContext and status.
	next := func() (string, events.Status) {
		t.Helper()
		m, err := sub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		e, err := events.DecodeMsg(m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		var data events.ResolvedOperation
		if err := json.Unmarshal(e.Data(), &data); err != nil {
			t.Fatal(err)
		}
		return data.ClientContext, data.Status
	}
	start := func(id string) *Worker {
		t.Helper()
		_, wjs := natstest.Connect(t, url)
		w, err := NewWorker(ctx, wjs, layout.State, layout.Partitions, Config{WorkerID: id}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return w
	}
	stop := func(w *Worker) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	op := func(i, n int) *traffic.Operation {
		return &traffic.Operation{CC: fmt.Sprintf("state-%d", i), ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", n, i),
			Type: "playPromptOperation", Action: "playPrompt", Call: traffic.CallID}
	}

	// Every key's operation completes, its state written, on a first worker.
	first := start("first")
	for i := range keys {
		storeEvidence(t, js, traffic.Evidence{Op: op(i, 1), Response: true, Status: "running", ETag: 1})
		storeEvidence(t, js, traffic.Evidence{Op: op(i, 1), Status: "completed", ETag: 2})
	}
	for range 2 * keys {
		next()
	}
	stop(first)

	// The replica behind: it answers direct gets for the state bucket once it
	// has mirrored a key, and holds no state.
	if _, err := layout.State.PutString(ctx, "behind", ""); err != nil {
		t.Fatal(err)
	}
	behind, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "STATE_BEHIND",
		Mirror: &jetstream.StreamSource{Name: "KV_" + events.BucketState, FilterSubject: stateSubjectPrefix + "behind"}, MirrorDirect: true})
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

	// A worker with no state cached gets each key's late notStarted response,
	// then a new operation of the key: its event says the late one is done.
	second := start("second")
	t.Cleanup(func() { stop(second) })
	for i := range keys {
		storeEvidence(t, js, traffic.Evidence{Op: op(i, 1), Response: true, Status: "notStarted", ETag: 3})
		storeEvidence(t, js, traffic.Evidence{Op: op(i, 2), Response: true, Status: "running", ETag: 4})
	}
	for range keys {
		if cc, status := next(); status != events.StatusRunning {
			t.Errorf("%s: a %s event after the operation completed", cc, status)
		}
	}
}
