package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// TestSaveCompareAndSwap: the state write is the bucket's compare-and-swap on
// a real JetStream. A stale or missing revision is ErrFenced, a new key is
// written over a delete marker, a terminal state carries the retention as its
// TTL and an open one none.
func TestSaveCompareAndSwap(t *testing.T) {
	srv := natstest.Run(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	layout, err := streams.Ensure(ctx, js, streams.Config{Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWorker(ctx, js, layout.State, layout.Partitions, Config{WorkerID: "save-test", Retention: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	kv := layout.State
	open := func(key string) *KeyState {
		return &KeyState{Key: key, Ops: []*OpState{{Slot: "id:1", Status: events.StatusRunning}}}
	}
	done := func(key string) *KeyState {
		return &KeyState{Key: key, Ops: []*OpState{{Slot: "id:1", Status: events.StatusCompleted}}}
	}

	// What the bucket holds under the key before save, and the revision
	// save is given.
	fresh := func(*testing.T, string) uint64 { return 0 }
	current := func(t *testing.T, key string) uint64 { return put(t, kv, key) }
	stale := func(t *testing.T, key string) uint64 {
		rev := put(t, kv, key)
		put(t, kv, key) // another writer
		return rev
	}
	taken := func(t *testing.T, key string) uint64 {
		put(t, kv, key) // another writer created it
		return 0
	}
	marked := func(t *testing.T, key string) uint64 {
		put(t, kv, key)
		if err := kv.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		return 0
	}
	cases := []struct {
		name    string
		prepare func(t *testing.T, key string) uint64
		st      func(key string) *KeyState
		fenced  bool
		ttl     bool
	}{
		{"new key", fresh, open, false, false},
		{"terminal new key gets the retention as TTL", fresh, done, false, true},
		{"current revision", current, open, false, false},
		{"terminal update gets the retention as TTL", current, done, false, true},
		{"stale revision", stale, open, true, false},
		{"new key that another writer created", taken, open, true, false},
		{"new key over a delete marker", marked, open, false, false},
		{"terminal new key over a delete marker", marked, done, false, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := events.Key("save-" + string(rune('a'+i)))
			rev := tc.prepare(t, key)
			st := tc.st(key)
			newRev, err := w.store.save(ctx, key, st, rev)
			if tc.fenced {
				if !errors.Is(err, ErrFenced) {
					t.Fatalf("save = %d, %v; want ErrFenced", newRev, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("save: %v", err)
			}
			e, err := kv.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if e.Revision() != newRev {
				t.Errorf("save returned revision %d, the bucket holds %d", newRev, e.Revision())
			}
			var got KeyState
			if err := unmarshalState(e.Value(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Key != key || len(got.Ops) != 1 || got.Ops[0].Status != st.Ops[0].Status {
				t.Errorf("stored state %+v, want the saved one", got)
			}
			stream, err := js.Stream(ctx, "KV_"+events.BucketState)
			if err != nil {
				t.Fatal(err)
			}
			m, err := stream.GetMsg(ctx, newRev)
			if err != nil {
				t.Fatal(err)
			}
			gotTTL := m.Header.Get("Nats-TTL")
			if !tc.ttl {
				if gotTTL != "" {
					t.Errorf("an open state written with Nats-TTL %q", gotTTL)
				}
				return
			}
			if d, err := time.ParseDuration(gotTTL); err != nil || d != time.Hour {
				t.Errorf("Nats-TTL %q, want the retention, 1h", gotTTL)
			}
		})
	}
}

// put writes a placeholder state under key and returns its revision.
func put(t *testing.T, kv jetstream.KeyValue, key string) uint64 {
	t.Helper()
	rev, err := kv.Put(context.Background(), key, []byte(`{"key":"`+key+`","ops":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// TestPermanent: what retrying cannot mend gives up; everything else is
// waited out.
func TestPermanent(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"over the server's max_payload", fmt.Errorf("resolver: publish x: %w", nats.ErrMaxPayload), true},
		{"over the stream's maximum message size", fmt.Errorf("resolver: save state: %w", &jetstream.APIError{ErrorCode: jetstream.JSErrCodeStreamMessageExceedsMaximum}), true},
		{"unencodable or unreadable", fmt.Errorf("%w: decode state of k: bad", errNoRetry), true},
		{"refused as malformed", fmt.Errorf("resolver: save state: %w", &jetstream.APIError{Code: 400, ErrorCode: 10166, Description: "per-message TTL is disabled"}), true},
		{"bucket full", &jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum bytes exceeded"}, false},
		{"compare-and-swap conflict", &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence, Description: "wrong last sequence: 3"}, false},
		{"no responders", fmt.Errorf("resolver: publish x: %w", nats.ErrNoResponders), false},
		{"timeout", context.DeadlineExceeded, false},
		{"fenced", fmt.Errorf("%w: k", ErrFenced), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := permanent(tc.err); got != tc.want {
				t.Errorf("permanent(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
