package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// testShares shape the traffic of the end-to-end tests: a third of the
// operations raced, a quarter on shared clientContexts, a quarter answered
// with a terminal action response and no notification, and a fifth of the
// items sent again later (see internal/traffic).
var testShares = traffic.Shares{Race: 1.0 / 3, Duplicates: 0.2, SharedCC: 0.25, TerminalResponse: 0.25}

// generate returns n operations of test traffic and their evidence in order.
func generate(r *rand.Rand, n int) ([]*traffic.Operation, []traffic.Evidence) {
	return traffic.Generate(r, n, testShares)
}

// inbound renders one piece of evidence as the events ingest would store.
func inbound(t testing.TB, e traffic.Evidence) []events.Inbound {
	t.Helper()
	in, err := e.Inbound()
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func (p *pipeline) publishAll(t *testing.T, seq []traffic.Evidence) {
	pub, err := events.NewPublisher(p.js)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var batch []events.Inbound
	for i, e := range seq {
		batch = append(batch, inbound(t, e)...)
		if len(batch) >= 64 || i == len(seq)-1 {
			if err := pub.Store(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

func checkAgainstModel(t *testing.T, ops []*traffic.Operation, want map[*traffic.Operation][]events.Status, evs []resolvedEvent) {
	t.Helper()
	assertInvariants(t, evs)
	bad := 0
	for _, o := range ops {
		got := statusesOf(evs, o.CC, o.ID)
		if !slices.Equal(got, want[o]) {
			if bad++; bad <= 10 {
				t.Errorf("op %s (cc %s): emitted %v, want %v", o.ID, o.CC, got, want[o])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d operations differ from the model", bad, len(ops))
	}
}

// TestPropertyRandomInterleavings: for several seeds, random interleavings with
// races, shared clientContexts and duplicates resolve exactly as the model says.
func TestPropertyRandomInterleavings(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			p := startPipeline(t)
			ops, seq := generate(rand.New(rand.NewPCG(seed, 42)), 150)
			want, n := traffic.Model(seq)
			p.publishAll(t, seq)
			p.startWorker("w1", resolverDefaults())
			p.out.waitFor(t, 60*time.Second, fmt.Sprintf("%d events", n), func(evs []resolvedEvent) bool { return len(evs) >= n })
			checkAgainstModel(t, ops, want, p.out.settle(500*time.Millisecond))
		})
	}
}

// TestResolverKilledAndRestarted: workers are killed with no cleanup while
// evidence keeps arriving, and replaced; nothing acknowledged is lost, nothing
// is emitted twice, and per-key order holds (the output equals the model).
func TestResolverKilledAndRestarted(t *testing.T) {
	p := startPipeline(t)
	ops, seq := generate(rand.New(rand.NewPCG(7, 7)), 300)
	want, n := traffic.Model(seq)

	w := p.startWorker("w1", resolverDefaults())
	half := len(seq) / 2
	p.publishAll(t, seq[:half])
	p.out.waitFor(t, 60*time.Second, "some progress", func(evs []resolvedEvent) bool { return len(evs) >= n/6 })
	w.kill()
	p.publishAll(t, seq[half:half+half/2])
	w = p.startWorker("w2", resolverDefaults())
	p.out.waitFor(t, 60*time.Second, "more progress", func(evs []resolvedEvent) bool { return len(evs) >= n/2 })
	w.kill()
	p.publishAll(t, seq[half+half/2:])
	p.startWorker("w3", resolverDefaults())
	p.out.waitFor(t, 90*time.Second, fmt.Sprintf("%d events", n), func(evs []resolvedEvent) bool { return len(evs) >= n })
	checkAgainstModel(t, ops, want, p.out.settle(time.Second))
}
