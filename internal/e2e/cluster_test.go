package e2e

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// postUntilStored posts one piece of evidence as Graph would: again and again
// until it is answered 202 (a 503 means "not stored, retry").
func (p *pipeline) postUntilStored(t *testing.T, e traffic.Evidence) {
	t.Helper()
	route, body := e.Body()
	deadline := time.Now().Add(60 * time.Second)
	for p.post(route, body) != http.StatusAccepted {
		if time.Now().After(deadline) {
			t.Fatalf("evidence %d never stored", e.ETag)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterFaults: a 3-node JetStream cluster with R3 streams and KV; under
// load through the HTTP ingest, the leaders of COMMS_IN, COMMS_RESOLVED, the
// state bucket and a resolver consumer step down, and a node is shut down and
// brought back. Everything acknowledged with 202 is resolved exactly as the
// model says: nothing lost, nothing twice, order kept.
func TestClusterFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	c := natstest.RunCluster(t, 3)
	p := startPipelineAt(t, c.URL(), 3)
	p.startWorker("w1", resolverDefaults())
	p.startWorker("w2", resolverDefaults())
	nc, _ := natstest.Connect(t, c.URL())

	ops, seq := generate(rand.New(rand.NewPCG(31, 31)), 150)
	faults := map[int]func(){
		len(seq) * 1 / 8: func() { must(t, natstest.StepDown(nc, "$JS.API.STREAM.LEADER.STEPDOWN."+events.StreamIn)) },
		len(seq) * 2 / 8: func() {
			must(t, natstest.StepDown(nc, "$JS.API.CONSUMER.LEADER.STEPDOWN."+events.StreamIn+".resolver-0"))
		},
		len(seq) * 3 / 8: func() { must(t, natstest.StepDown(nc, "$JS.API.STREAM.LEADER.STEPDOWN.KV_"+events.BucketState)) },
		len(seq) * 4 / 8: func() { must(t, natstest.StepDown(nc, "$JS.API.STREAM.LEADER.STEPDOWN."+events.StreamResolved)) },
		len(seq) * 5 / 8: func() { c.Nodes[1].Shutdown() },
		len(seq) * 7 / 8: func() { c.Nodes[1].Restart() },
	}
	start := time.Now()
	for i, e := range seq {
		if f := faults[i]; f != nil {
			f()
			t.Logf("fault at evidence %d/%d (%v)", i, len(seq), time.Since(start).Round(time.Millisecond))
		}
		p.postUntilStored(t, e)
	}
	// The model follows COMMS_IN's order, as the contract does: a publish
	// retried across a leader change or the shutdown may have stored the
	// evidence otherwise than it was posted.
	stored, seqs := storedOrder(t, p.js, seq)
	want, n := traffic.Expect(stored)
	p.out.waitModelled(t, 120*time.Second, n)
	evs := p.out.settle(time.Second)
	checkAgainstModel(t, ops, want, evs)
	if t.Failed() {
		explainMismatch(t, ops, seq, seqs, want, evs)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
