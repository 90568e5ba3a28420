package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/deadletter"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/pkg/events"
)

// TestFailingWritesRetriedThenDeadLettered: a state that can never be
// written (the bucket's maximum value size is shrunk below any state) is not
// waited out: its message is left for redelivery, and after MaxDeliver
// deliveries dead-lettered with the reason; once writes work again, new
// evidence resolves. The event decided by the message is published once
// however often it is redelivered.
func TestFailingWritesRetriedThenDeadLettered(t *testing.T) {
	p := startPipeline(t)
	ctx := context.Background()
	resize := func(max int32) {
		reconfigureState(t, p, func(c *jetstream.StreamConfig) { c.MaxMsgSize = max })
	}
	resize(32)
	// A duplicate window shorter than the redelivery delay: the stream's
	// Nats-Msg-Id dedupe cannot hide a second publish of the same event.
	rs, err := p.js.Stream(ctx, events.StreamResolved)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := rs.CachedInfo().Config
	rcfg.Duplicates = 100 * time.Millisecond
	if _, err := p.js.UpdateStream(ctx, rcfg); err != nil {
		t.Fatal(err)
	}
	cfg := resolverDefaults()
	cfg.MaxAttempts, cfg.MaxDeliver, cfg.AckWait = 2, 3, time.Second
	p.startWorker("w1", cfg)
	p.mustPost("/v1/responses", response("playPrompt", op{typ: "playPromptOperation", id: "0fe0623f-d628-42ed-b4bd-8ac290072cc5", cc: "doomed", status: "completed"}, 200))

	dlq, _ := p.js.Stream(ctx, events.StreamDeadLetter)
	deadline := time.Now().Add(30 * time.Second)
	var m *jetstream.RawStreamMsg
	for {
		var err error
		if m, err = dlq.GetMsg(ctx, 1); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never dead-lettered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := m.Header.Get(deadletter.HeaderDeliveries); got != "3" {
		t.Errorf("dead-lettered after %s deliveries, want 3", got)
	}
	if reason := m.Header.Get(deadletter.HeaderReason); !strings.Contains(reason, "gave up after 3 deliveries") {
		t.Errorf("reason %q", reason)
	}
	// Events are published before the state write (which failed each time):
	// the one decided is stored once, not once per delivery (each redelivery
	// finds it after the committed state's resolvedSeq).
	if got := statusesOf(p.out.snapshot(), "doomed", ""); len(got) != 1 || got[0] != "completed" {
		t.Fatalf("events of the doomed operation: %v, want one completed", got)
	}

	resize(-1) // writes work again
	p.mustPost("/v1/responses", response("playPrompt", op{typ: "playPromptOperation", id: "1fe0623f-d628-42ed-b4bd-8ac290072cc5", cc: "healthy", status: "completed"}, 200))
	p.out.waitFor(t, 15*time.Second, "recovery", func(evs []resolvedEvent) bool { return len(statusesOf(evs, "healthy", "")) == 1 })
}

// TestWriteOutageKeepsKeyOrder: while the state bucket refuses writes (full,
// a passing failure), a key whose batch cannot be committed waits, and its
// later messages wait behind it. Here the completion is stored and published,
// its state write fails, and then the action response reporting "running"
// arrives for the same operation: it must be absorbed as the race once the
// bucket takes writes again, never applied to a state without the
// completion (which would publish "running" after "completed"). Either the
// worker waits the outage out, keeping both messages from redelivery, or it
// is stopped during the outage: it gives the key up at once, both messages
// unacked, and the next worker applies them in order.
func TestWriteOutageKeepsKeyOrder(t *testing.T) {
	cases := []struct {
		name       string
		stopInside bool // stop w1 during the outage; w2 finishes after it
		deliveries uint64
	}{
		{"waited out", false, 2},
		{"stopped during it", true, 4}, // each message: to w1, then to w2
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startPipeline(t)
			ctx := context.Background()
			limit := func(maxBytes int64) {
				reconfigureState(t, p, func(c *jetstream.StreamConfig) { c.MaxBytes = maxBytes })
			}
			limit(1) // every state write fails: the bucket is full
			cfg := resolverDefaults()
			cfg.MaxAttempts, cfg.MaxDeliver, cfg.AckWait = 2, 3, 2*time.Second
			if tc.stopInside {
				// No re-pin (and catch-up) while w1 waits: the response
				// must wait behind the completion in w1's own queue. Stop
				// unpins for w2.
				cfg.PinnedTTL = time.Minute
			}
			w1 := p.startWorker("w1", cfg)

			const id = "0fe0623f-d628-42ed-b4bd-8ac290072cc5"
			p.mustPost("/v1/notifications", notification(op{typ: "playPromptOperation", id: id, cc: "ordered", status: "completed"}))
			p.out.waitFor(t, 10*time.Second, "completed", func(evs []resolvedEvent) bool { return len(statusesOf(evs, "ordered", "")) == 1 })
			// Past the in-place attempts: the old behaviour had nacked the
			// completion and dropped its state by now.
			time.Sleep(1500 * time.Millisecond)
			p.mustPost("/v1/responses", response("playPrompt", op{typ: "playPromptOperation", id: id, cc: "ordered", status: "running"}, 200))
			if tc.stopInside {
				time.Sleep(500 * time.Millisecond) // queued behind the key
				stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := w1.w.Stop(stopCtx); err != nil {
					t.Fatalf("stop during the outage: %v (the failing work is not waited out once Stop begins)", err)
				}
				w1.nc.Close()
			} else {
				time.Sleep(2500 * time.Millisecond) // over an ack wait queued behind the key
			}
			if got := statusesOf(p.out.snapshot(), "ordered", ""); len(got) != 1 {
				t.Fatalf("during the outage: events %v, want only the completion", got)
			}

			limit(-1) // writes work again
			if tc.stopInside {
				cfg.PinnedTTL = 0 // the harness's default
				p.startWorker("w2", cfg)
			}
			key := events.Key("ordered")
			deadline := time.Now().Add(15 * time.Second)
			for {
				st, err := readState(ctx, p.layout.State, key)
				if err == nil && len(st.Ops) == 1 && len(st.Ops[0].Sources) == 2 {
					if !st.Ops[0].RaceDetected || st.Ops[0].Status != events.StatusCompleted {
						t.Fatalf("state after the outage: %+v, want completed with the race recorded", st.Ops[0])
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("state with both messages never written: %+v, %v", st, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			evs := p.out.settle(500 * time.Millisecond)
			if got := statusesOf(evs, "ordered", ""); len(got) != 1 || got[0] != events.StatusCompleted {
				t.Fatalf("events %v, want the completion alone:\n%s", got, describe(evs))
			}
			assertInvariants(t, evs)
			dlq, err := p.js.Stream(ctx, events.StreamDeadLetter)
			if err != nil {
				t.Fatal(err)
			}
			if info, err := dlq.Info(ctx); err != nil || info.State.Msgs != 0 {
				t.Fatalf("dead letters after a passing outage: %v, %v", info.State.Msgs, err)
			}
			// No message was redelivered while it waited (a consumer's
			// sequence counts every delivery).
			deliveries := uint64(0)
			for part := range p.layout.Partitions {
				c, err := p.js.Consumer(ctx, events.StreamIn, resolver.ConsumerName(part))
				if err != nil {
					t.Fatal(err)
				}
				info, err := c.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				deliveries += info.Delivered.Consumer
			}
			if deliveries > tc.deliveries {
				t.Errorf("%d deliveries of the 2 messages, want %d: redelivered while the key waited", deliveries, tc.deliveries)
			}
		})
	}
}

// reconfigureState updates the state bucket's stream, as streams.Ensure made
// it, changed by adjust (a KV's maximum value size is its stream's MaxMsgSize).
func reconfigureState(t *testing.T, p *pipeline, adjust func(*jetstream.StreamConfig)) {
	t.Helper()
	ctx := context.Background()
	st, err := p.js.Stream(ctx, "KV_"+events.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	adjust(&cfg)
	if _, err := p.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// readState returns key's state in the bucket.
func readState(ctx context.Context, kv jetstream.KeyValue, key string) (*resolver.KeyState, error) {
	e, err := kv.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	var st resolver.KeyState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, err
	}
	return &st, nil
}
