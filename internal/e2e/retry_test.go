package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/pkg/events"
)

// TestFailingWritesRetriedThenDeadLettered: when state writes keep failing,
// a message is retried in place with backoff, left for redelivery, and after
// MaxDeliver deliveries dead-lettered with the reason; once writes work
// again, new evidence resolves. The event decided by the message is
// published once however often it is redelivered. Writes fail for real: the state bucket's
// maximum value size is shrunk below any state.
func TestFailingWritesRetriedThenDeadLettered(t *testing.T) {
	p := startPipeline(t)
	ctx := context.Background()
	resize := func(max int32) {
		_, err := p.js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: events.BucketState, History: 1,
			Storage: jetstream.FileStorage, LimitMarkerTTL: time.Minute, MaxValueSize: max})
		if err != nil {
			t.Fatal(err)
		}
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
	if got := m.Header.Get(resolver.HeaderDLQDeliveries); got != "3" {
		t.Errorf("dead-lettered after %s deliveries, want 3", got)
	}
	if reason := m.Header.Get(resolver.HeaderDLQReason); !strings.Contains(reason, "gave up after 3 deliveries") {
		t.Errorf("reason %q", reason)
	}
	// Events are published before the state write (which failed each time):
	// the one decided is stored once, not once per delivery (each redelivery
	// finds it after the committed state's resolvedSeq).
	if got := statusesOf(p.out.snapshot(), "doomed", ""); len(got) != 1 || got[0] != "completed" {
		t.Fatalf("events of the doomed operation: %v, want one completed", got)
	}

	resize(0) // writes work again
	p.mustPost("/v1/responses", response("playPrompt", op{typ: "playPromptOperation", id: "1fe0623f-d628-42ed-b4bd-8ac290072cc5", cc: "healthy", status: "completed"}, 200))
	p.out.waitFor(t, 15*time.Second, "recovery", func(evs []resolvedEvent) bool { return len(statusesOf(evs, "healthy", "")) == 1 })
}
