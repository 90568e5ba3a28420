package e2e

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// crashingJS is the JetStream a worker runs on, which kills the worker (closes
// its connection, no drain, no ack) instead of sending a state write: the
// first one, from the after-th on, of a key whose resolved events were
// published since its last state write. The crash thus falls exactly between
// an event publish and the state write that records it, with the rest of
// the worker's work in flight wherever it is.
type crashingJS struct {
	jetstream.JetStream
	nc    *nats.Conn
	after int

	mu      sync.Mutex
	writes  int
	pending map[string]bool // keys with events published and no state write since
	crashed chan struct{}   // closed at the crash
	key     string          // the key whose state write the crash replaced
}

const (
	stateSubjectPrefix    = "$KV." + events.BucketState + "."
	resolvedSubjectPrefix = events.SubjectResolvedPrefix
)

func (c *crashingJS) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	c.mu.Lock()
	switch {
	case strings.HasPrefix(m.Subject, resolvedSubjectPrefix):
		rest := strings.TrimPrefix(m.Subject, resolvedSubjectPrefix)
		if i := strings.LastIndexByte(rest, '.'); i > 0 {
			c.pending[rest[:i]] = true
		}
	case strings.HasPrefix(m.Subject, stateSubjectPrefix):
		key := strings.TrimPrefix(m.Subject, stateSubjectPrefix)
		c.writes++
		if c.key == "" && c.writes >= c.after && c.pending[key] {
			c.key = key
			c.nc.Close() // the crash: this write and everything after fail
			close(c.crashed)
		}
		delete(c.pending, key)
	}
	c.mu.Unlock()
	return c.JetStream.PublishMsgAsync(m, opts...)
}

// startCrashingWorker is startWorker on a crashingJS that crashes at the
// after-th state write (or the first one after it that follows an event).
func (p *pipeline) startCrashingWorker(id string, cfg resolver.Config, after int) (*worker, *crashingJS) {
	p.t.Helper()
	nc, err := nats.Connect(p.url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.Name(id))
	if err != nil {
		p.t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		p.t.Fatal(err)
	}
	cjs := &crashingJS{JetStream: js, nc: nc, after: after, pending: map[string]bool{}, crashed: make(chan struct{})}
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, events.BucketState)
	if err != nil {
		p.t.Fatal(err)
	}
	if cfg.Members, err = js.KeyValue(ctx, streams.BucketWorkers); err != nil {
		p.t.Fatal(err)
	}
	cfg.WorkerID, cfg.Heartbeat = id, 250*time.Millisecond
	w, err := resolver.NewWorker(ctx, cjs, kv, p.layout.Partitions, cfg, testLog(p.t))
	if err != nil {
		p.t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		p.t.Fatal(err)
	}
	wk := &worker{w: w, nc: nc}
	p.t.Cleanup(func() { wk.stopAtCleanup(p.t) })
	return wk, cjs
}

// TestCrashBetweenEventAndStateWrite: under a steady feed, workers crash
// between publishing a key's resolved event and writing the key's state,
// twice, each replaced by a new worker; the output equals the model: the
// event is not stored again when its input is applied again, and nothing
// is lost.
func TestCrashBetweenEventAndStateWrite(t *testing.T) {
	for _, tc := range []struct {
		name        string
		commitDelay time.Duration
	}{
		{"state written at once", 0},
		{"group commit", 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPipeline(t)
			ops, seq := generate(rand.New(rand.NewPCG(11, 11)), 300)
			want, n := traffic.Expect(seq)
			cfg := resolverDefaults()
			cfg.CommitDelay = tc.commitDelay
			f := p.feed(t, seq, 10, 10*time.Millisecond)
			for i, after := range []int{20, 40} {
				w, cjs := p.startCrashingWorker("crashing-"+string(rune('a'+i)), cfg, after)
				select {
				case <-cjs.crashed:
				case <-time.After(60 * time.Second):
					t.Fatalf("worker %d never crashed (%s)", i, f)
				}
				w.killed = true
				t.Logf("worker %d crashed before the state write of key %s, with events published; %s", i, cjs.key, f)
			}
			p.startWorker("survivor", cfg)
			for f.fed.Load() < int64(len(seq)) {
				time.Sleep(20 * time.Millisecond)
			}
			f.stop()
			p.out.waitModelled(t, 90*time.Second, n)
			checkAgainstModel(t, ops, want, p.out.settle(time.Second))
		})
	}
}
