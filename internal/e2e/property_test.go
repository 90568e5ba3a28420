package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// testShares shape the traffic of the end-to-end tests: a third of the
// operations raced, a quarter on shared clientContexts, a quarter answered
// with a terminal action response and no notification, a fifth of the items
// sent again later, half the three-step operations not raced otherwise with
// their running notification before the notStarted response (raceDetected
// on their terminal event), operations spread over three calls, and a fifth
// of those that can be told apart without an id (internal/traffic) with a
// null-id completion, a fifth with a null operation as action response.
var testShares = traffic.Shares{Race: 1.0 / 3, Duplicates: 0.2, SharedCC: 0.25, TerminalResponse: 0.25, ProgressRace: 0.5,
	Calls: 3, NullID: 0.2, NullOperation: 0.2}

// generate returns n operations of test traffic and their evidence in order.
func generate(r *rand.Rand, n int) ([]*traffic.Operation, []traffic.Evidence) {
	return traffic.Generate(r, n, testShares)
}

// inboundOf renders one piece of evidence as the events ingest would store.
func inboundOf(t testing.TB, e traffic.Evidence) []inbound.Inbound {
	t.Helper()
	in, err := e.Inbound()
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func (p *pipeline) publishAll(t *testing.T, seq []traffic.Evidence) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var batch []inbound.Inbound
	for i, e := range seq {
		batch = append(batch, inboundOf(t, e)...)
		if len(batch) >= 64 || i == len(seq)-1 {
			if err := inbound.Store(ctx, p.js, events.DefaultStoreTimeout, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// checkAgainstModel checks evs against the model of the traffic fed: each
// event attributed to its operation (by id, or by clientContext, call and
// type when it has none), and per operation the events' statuses,
// raceDetected flags and operation ids in stream order exactly the model's.
func checkAgainstModel(t *testing.T, ops []*traffic.Operation, want map[*traffic.Operation][]traffic.Expected, evs []resolvedEvent) {
	t.Helper()
	assertInvariants(t, evs)
	idx := traffic.NewIndex(ops)
	got := map[*traffic.Operation][]traffic.Expected{}
	for _, e := range evs {
		o := idx.Find(e.Data)
		if o == nil {
			t.Errorf("event #%d %s (cc %s, call %s, op %q, %s) is about no operation sent", e.Seq, e.ID, e.Data.ClientContext, e.Data.CallID, e.Data.OperationID, e.Data.ODataType)
			continue
		}
		if e.Data.CallID != graphid.NormalizeID(o.Call) || e.Data.ODataType != "#microsoft.graph."+o.Type {
			t.Errorf("event #%d %s of op %s: call %s type %s, want %s %s", e.Seq, e.ID, o.ID, e.Data.CallID, e.Data.ODataType, o.Call, o.Type)
		}
		got[o] = append(got[o], traffic.Expected{Status: e.Data.Status, RaceDetected: e.Data.RaceDetected, OperationID: e.Data.OperationID})
	}
	bad := 0
	for _, o := range ops {
		if !slices.Equal(got[o], want[o]) {
			if bad++; bad <= 10 {
				t.Errorf("op %s (cc %s, call %s, %s): emitted %v, want %v", o.ID, o.CC, o.Call, o.Type, got[o], want[o])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d operations differ from the model", bad, len(ops))
	}
}

// waitModelled waits until the collector holds n events, the model's count.
// When fewer come (none for modelQuiet, or none more by d) it reports it and
// returns, so that checkAgainstModel says which operations differ.
func (c *collector) waitModelled(t *testing.T, d time.Duration, n int) {
	t.Helper()
	const modelQuiet = 20 * time.Second
	deadline, have, progress := time.Now().Add(d), -1, time.Now()
	for {
		evs := c.snapshot()
		if c.err != nil {
			t.Fatalf("collector: %v", c.err)
		}
		if len(evs) >= n {
			return
		}
		if len(evs) != have {
			have, progress = len(evs), time.Now()
		}
		if time.Since(progress) > modelQuiet || time.Now().After(deadline) {
			t.Errorf("%d of the model's %d events; none more for %v", len(evs), n, time.Since(progress).Round(time.Second))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPropertyRandomInterleavings: for several seeds, random interleavings with
// races, shared clientContexts and duplicates resolve exactly as the model says.
func TestPropertyRandomInterleavings(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			p := startPipeline(t)
			ops, seq := generate(rand.New(rand.NewPCG(seed, 42)), 150)
			want, n := traffic.Expect(seq)
			p.publishAll(t, seq)
			p.startWorker("w1", resolverDefaults())
			p.out.waitModelled(t, 60*time.Second, n)
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
	want, n := traffic.Expect(seq)

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
	p.out.waitModelled(t, 90*time.Second, n)
	checkAgainstModel(t, ops, want, p.out.settle(time.Second))
}
