package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// feeder publishes evidence in the background.
type feeder struct {
	wg   sync.WaitGroup
	quit atomic.Bool
	fed  atomic.Int64
	seq  []traffic.Evidence
}

// feed publishes seq in small batches at a steady pace, so that workers fail
// and join under continuous traffic, until stop is called or seq runs out.
func (p *pipeline) feed(t *testing.T, seq []traffic.Evidence, batch int, every time.Duration) *feeder {
	f := &feeder{seq: seq}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for fed := 0; fed < len(seq) && !f.quit.Load(); {
			next := min(fed+batch, len(seq))
			p.publishAll(t, seq[fed:next])
			fed = next
			f.fed.Store(int64(fed))
			time.Sleep(every)
		}
	}()
	return f
}

// stop ends the feed and returns the prefix of seq that was published.
func (f *feeder) stop() []traffic.Evidence {
	f.quit.Store(true)
	f.wg.Wait()
	return f.seq[:f.fed.Load()]
}

// String says how far the feed got.
func (f *feeder) String() string {
	return fmt.Sprintf("%d of %d pieces of evidence fed", f.fed.Load(), len(f.seq))
}

// ownership returns, for each worker of ws, the partitions it owns by
// rendezvous hashing among ws.
func ownership(ws []*worker, partitions int) map[*worker][]int {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.w.ID()
	}
	slices.Sort(ids)
	out := map[*worker][]int{}
	for p := range partitions {
		own := resolver.PartitionOwner(p, ids)
		for _, w := range ws {
			if w.w.ID() == own {
				out[w] = append(out[w], p)
			}
		}
	}
	return out
}

// converged reports whether every partition is active on its rendezvous owner
// among ws and on no other worker of ws (under continuous traffic, every
// partition is active somewhere). Otherwise it describes who is active where.
func converged(ws []*worker, partitions int) (bool, string) {
	owned := ownership(ws, partitions)
	ok := true
	var b strings.Builder
	for _, w := range ws {
		active := w.w.Active()
		if !slices.Equal(active, owned[w]) {
			ok = false
		}
		fmt.Fprintf(&b, " %s active %v owns %v;", w.w.ID(), active, owned[w])
	}
	return ok, b.String()
}

// pins returns the pinned client id of each partition's consumer in its
// priority group ("" when none is pinned).
func (p *pipeline) pins(t *testing.T) []string {
	t.Helper()
	out := make([]string, p.layout.Partitions)
	for part := range out {
		c, err := p.js.Consumer(context.Background(), events.StreamIn, resolver.ConsumerName(part))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range c.CachedInfo().PriorityGroups {
			if g.Group == resolver.PriorityGroup {
				out[part] = g.PinnedClientID
			}
		}
	}
	return out
}

// awaitConverged fails the test unless ws converge to their rendezvous owners
// within d.
func awaitConverged(t *testing.T, ws []*worker, partitions int, d time.Duration, when string, f *feeder) {
	t.Helper()
	start := time.Now()
	for {
		ok, state := converged(ws, partitions)
		if ok {
			t.Logf("%s: converged after %v:%s (%v)", when, time.Since(start).Round(time.Millisecond), state, f)
			return
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not converged to the rendezvous owners after %v:%s (%v)", when, d, state, f)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestScaleOutFailover: three workers share the input and converge to their
// rendezvous owners; under continuous traffic the one owning the most
// partitions is killed with no cleanup, the survivors take its partitions and
// converge again, one is stopped gracefully and a new one joins, and they
// converge again. Every operation ends with its complete forward-only
// sequence, each event exactly once, none missing (the output equals the
// model).
func TestScaleOutFailover(t *testing.T) {
	const converge = 20 * time.Second
	p := startPipeline(t)
	// More traffic than the test needs: the feed runs until the last
	// convergence, and only what was fed is modelled.
	ops, seq := generate(rand.New(rand.NewPCG(21, 21)), 6000)

	ws := []*worker{p.startWorker("w1", resolverDefaults()), p.startWorker("w2", resolverDefaults()), p.startWorker("w3", resolverDefaults())}
	feed := p.feed(t, seq, 8, 25*time.Millisecond)
	t.Cleanup(func() { feed.stop() })
	awaitConverged(t, ws, p.layout.Partitions, converge, "three workers", feed)

	// Kill the worker that owns the most partitions abruptly: they move at
	// once (the server unpins a closed connection); measure until another
	// worker is active on them.
	owned := ownership(ws, p.layout.Partitions)
	victim := slices.MaxFunc(ws, func(a, b *worker) int { return len(owned[a]) - len(owned[b]) })
	lost := victim.w.Active()
	if len(lost) == 0 || !slices.Equal(lost, owned[victim]) {
		t.Fatalf("%s is active on %v, owns %v", victim.w.ID(), lost, owned[victim])
	}
	before := p.pins(t)
	for _, part := range lost {
		if before[part] == "" {
			t.Fatalf("partition %d, active on %s, has no pinned client", part, victim.w.ID())
		}
	}
	victim.kill()
	killedAt := time.Now()
	ws = slices.DeleteFunc(ws, func(w *worker) bool { return w == victim })
	for _, part := range lost {
		for !slices.ContainsFunc(ws, func(w *worker) bool { return slices.Contains(w.w.Active(), part) }) {
			if time.Since(killedAt) > 20*time.Second {
				t.Fatalf("partition %d not taken over", part)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("takeover after killing %s: %v for partitions %v", victim.w.ID(), time.Since(killedAt), lost)
	// Each is pinned anew. Not necessarily at this instant: the survivor the
	// server pinned a partition to may be yielding it to its owner, and the
	// partition is unpinned for that moment.
	for {
		after := p.pins(t)
		if !slices.ContainsFunc(lost, func(part int) bool { return after[part] == "" || after[part] == before[part] }) {
			break
		}
		if time.Since(killedAt) > 20*time.Second {
			for _, part := range lost {
				t.Errorf("partition %d: pinned client %q before the kill, %q after the takeover", part, before[part], after[part])
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	awaitConverged(t, ws, p.layout.Partitions, converge, "after the kill", feed)

	leaver, stays := ws[0], ws[1]
	leaver.stop(t) // graceful
	w4 := p.startWorker("w4", resolverDefaults())
	ws = []*worker{stays, w4}
	awaitConverged(t, ws, p.layout.Partitions, converge, "after a graceful stop and a join", feed)

	fed := feed.stop()
	want, n := traffic.Expect(fed)
	t.Logf("%d of %d pieces of evidence fed, %d events expected", len(fed), len(seq), n)
	p.out.waitModelled(t, 120*time.Second, n)
	checkAgainstModel(t, ops, want, p.out.settle(time.Second))

	ctx := context.Background()
	members, err := p.js.KeyValue(ctx, streams.BucketWorkers)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := members.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(keys, stays.w.ID()) || !slices.Contains(keys, "w4") || slices.Contains(keys, leaver.w.ID()) {
		t.Errorf("members %v: want %s and w4 (%s left, %s expires)", keys, stays.w.ID(), leaver.w.ID(), victim.w.ID())
	}
}
