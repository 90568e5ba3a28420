package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/traffic"
)

// feed publishes seq in small batches at a steady pace until done, so that
// workers fail and join under continuous traffic.
func (p *pipeline) feed(t *testing.T, seq []traffic.Evidence, batch int, every time.Duration) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(seq); i += batch {
			p.publishAll(t, seq[i:min(i+batch, len(seq))])
			time.Sleep(every)
		}
	}()
	return wg.Wait
}

// converged reports whether every partition with traffic is active on
// exactly its rendezvous owner among the given workers.
func converged(ws []*worker, partitions int) bool {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.w.ID()
	}
	slices.Sort(ids)
	for p := range partitions {
		own := resolver.PartitionOwner(p, ids)
		for _, w := range ws {
			if slices.Contains(w.w.Active(), p) && w.w.ID() != own {
				return false
			}
		}
	}
	return true
}

// TestScaleOutFailover: three workers share the input; under continuous
// traffic one is killed with no cleanup, one is stopped gracefully and a new
// one joins. Every operation ends with its complete forward-only sequence,
// each event exactly once, none missing (the output equals the model).
func TestScaleOutFailover(t *testing.T) {
	p := startPipeline(t)
	ops, seq := generate(rand.New(rand.NewPCG(21, 21)), 400)
	want, n := traffic.Model(seq)

	w1, w2, w3 := p.startWorker("w1", resolverDefaults()), p.startWorker("w2", resolverDefaults()), p.startWorker("w3", resolverDefaults())
	done := p.feed(t, seq, 8, 10*time.Millisecond)

	p.out.waitFor(t, 60*time.Second, "a quarter", func(evs []resolvedEvent) bool { return len(evs) >= n/4 })
	deadline := time.Now().Add(10 * time.Second)
	for !converged([]*worker{w1, w2, w3}, p.layout.Partitions) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("partitions active: w1 %v w2 %v w3 %v", w1.w.Active(), w2.w.Active(), w3.w.Active())

	// Kill w1 abruptly: its partitions move at once (the server unpins a
	// closed connection); measure until another worker is active on them.
	lost := w1.w.Active()
	w1.kill()
	killedAt := time.Now()
	for _, part := range lost {
		for !slices.Contains(w2.w.Active(), part) && !slices.Contains(w3.w.Active(), part) {
			if time.Since(killedAt) > 20*time.Second {
				t.Fatalf("partition %d not taken over", part)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("takeover after kill: %v for partitions %v", time.Since(killedAt), lost)

	p.out.waitFor(t, 60*time.Second, "half", func(evs []resolvedEvent) bool { return len(evs) >= n/2 })
	w2.stop(t) // graceful
	w4 := p.startWorker("w4", resolverDefaults())
	done()
	p.out.waitFor(t, 90*time.Second, fmt.Sprintf("%d events", n), func(evs []resolvedEvent) bool { return len(evs) >= n })
	checkAgainstModel(t, ops, want, p.out.settle(time.Second))
	t.Logf("partitions active at the end: w3 %v w4 %v", w3.w.Active(), w4.w.Active())

	ctx := context.Background()
	members, _ := p.js.KeyValue(ctx, streams.BucketWorkers)
	keys, _ := members.Keys(ctx)
	slices.Sort(keys)
	if !slices.Contains(keys, "w3") || !slices.Contains(keys, "w4") || slices.Contains(keys, "w2") {
		t.Errorf("members %v: want w3 and w4 (w2 left, w1 expires)", keys)
	}
}
