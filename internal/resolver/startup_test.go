package resolver

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/jsutil"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service/servicetest"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// TestStartWaitsOutANodeKilled: in a 3-node cluster with R3 streams, the
// JetStream meta leader and a second node are killed as a resolver starts,
// and the second comes back a little later. Consumer requests sent
// meanwhile are never answered; Start waits that out within its deadline
// (logging each step once) instead of failing with "consumer resolver-N:
// context deadline exceeded", and the consumers exist when it returns.
func TestStartWaitsOutANodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	c := natstest.RunCluster(t, 3)
	_, js := natstest.Connect(t, c.URL())
	ctx := context.Background()
	layout, err := streams.Ensure(ctx, js, streams.Config{Replicas: 3, Partitions: 16})
	if err != nil {
		t.Fatal(err)
	}
	var logs servicetest.Buffer
	w, err := NewWorker(ctx, js, layout.State, layout.Partitions, Config{WorkerID: "startup"}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// The meta leader and one more node: no quorum, so nothing is answered
	// until one comes back.
	var killed []int
	for i, n := range c.Nodes {
		if n.JetStreamIsLeader() {
			killed = append(killed, i)
		}
	}
	if len(killed) != 1 {
		t.Fatalf("meta leaders: %v, want one", killed)
	}
	killed = append(killed, (killed[0]+1)%len(c.Nodes))
	for _, i := range killed {
		c.Nodes[i].Shutdown()
	}
	started := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	startErr := make(chan error, 1)
	go func() { startErr <- w.Start(sctx) }()
	// Start waits (and says so) rather than fail: then a node comes back.
	for !strings.Contains(logs.String(), "retrying until the startup deadline") {
		select {
		case err := <-startErr:
			t.Fatalf("Start returned %v with no JetStream quorum", err)
		case <-sctx.Done():
			t.Fatal("Start never logged that it waits")
		case <-time.After(50 * time.Millisecond):
		}
	}
	c.Nodes[killed[1]].Restart()
	if err := <-startErr; err != nil {
		t.Fatalf("Start with node %d down: %v", killed[0], err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(stopCtx)
	})
	// The cluster may still be electing the stream's leader: a request sent
	// meanwhile is never answered, so the check retries as Start does.
	for p := range layout.Partitions {
		err := jsutil.Startup{Name: "check " + ConsumerName(p), Attempt: 2 * time.Second}.Run(sctx, func(ctx context.Context) error {
			_, err := js.Consumer(ctx, events.StreamIn, ConsumerName(p))
			return err
		})
		if err != nil {
			t.Errorf("consumer %s after Start: %v", ConsumerName(p), err)
		}
	}
	// One line per step that had to wait, not one per attempt.
	waited := map[string]int{}
	for _, line := range strings.Split(logs.String(), "\n") {
		if m := stepRE.FindStringSubmatch(line); m != nil && strings.Contains(line, "retrying until the startup deadline") {
			waited[m[1]]++
		}
	}
	if len(waited) == 0 {
		t.Error("no step logged that it waited")
	}
	for step, n := range waited {
		if n > 1 {
			t.Errorf("step %q logged %d times", step, n)
		}
	}
	t.Logf("started in %v with node %d down for good, node %d back; steps that waited: %v",
		time.Since(started).Round(time.Millisecond), killed[0], killed[1], waited)
}

var stepRE = regexp.MustCompile(`step="([^"]*)"`)
