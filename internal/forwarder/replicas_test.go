package forwarder

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commsops/commsops/pkg/events"
)

// orderSink is a sink that records, per clientContext, the stream order
// index of each event it receives (the operation id's suffix).
type orderSink struct {
	mu   sync.Mutex
	seen map[string][]int // clientContext → indexes in arrival order
}

func (o *orderSink) record(r *http.Request) {
	var i int
	id := r.Header.Get("Ce-Id") // "<cc>-op<index>-running"
	if _, err := fmt.Sscanf(id[strings.LastIndex(id, "-op")+3:], "%d", &i); err != nil {
		panic(err)
	}
	o.mu.Lock()
	o.seen[r.Header.Get("Ce-Subject")] = append(o.seen[r.Header.Get("Ce-Subject")], i)
	o.mu.Unlock()
}

// check fails t unless every clientContext got every index in 0..n-1, and
// never an index lower than one it got before (a repeat of the last one,
// resent after a crash, is allowed).
func (o *orderSink) check(t *testing.T, ccs []string, n int) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, cc := range ccs {
		got := o.seen[cc]
		for j := 1; j < len(got); j++ {
			if got[j] < got[j-1] {
				t.Errorf("%s: event %d after event %d: %v", cc, got[j], got[j-1], got)
				break
			}
		}
		if u := slices.Compact(slices.Clone(got)); len(u) != n {
			t.Errorf("%s: got %d distinct events, want %d: %v", cc, len(u), n, got)
		}
	}
}

// TestTwoReplicasKilled: two replicas share the durable; the one holding
// it is killed mid-stream (no ack, no nak, no shutdown) while it holds
// events behind a retried one; the other takes over, and every key's events
// reach the sink in stream order, none lost.
func TestTwoReplicasKilled(t *testing.T) {
	const keys, perKey = 6, 30
	os := &orderSink{seen: map[string][]int{}}
	var (
		mu      sync.Mutex
		total   int
		killAt  = make(chan struct{})
		killed  bool
		retried = map[string]bool{}
	)
	sink := newTestSink(t, func(w http.ResponseWriter, r *http.Request, attempt int) int {
		os.record(r)
		mu.Lock()
		defer mu.Unlock()
		total++
		if total == keys*perKey/3 && !killed {
			killed = true
			close(killAt)
		}
		// Now and then a 500, so that events wait behind retries when the
		// kill comes.
		id := r.Header.Get("Ce-Id")
		if strings.HasSuffix(id, "7-running") && !retried[id] {
			retried[id] = true
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	en := newEnv(t)
	cfg := testConfig(sink.URL)
	cfg.Concurrency = 3
	a := en.start(t, cfg)
	cfg.WorkerID = "b"
	b := en.start(t, cfg)
	var ccs []string
	for k := range keys {
		ccs = append(ccs, fmt.Sprintf("ctx-%d", k))
	}
	var last stored
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range perKey {
			for _, cc := range ccs {
				last = en.publish(t, cc, fmt.Sprintf("%s-op%d", cc, i), events.StatusRunning)
			}
		}
	}()
	select {
	case <-killAt:
	case <-time.After(waitLimit):
		t.Fatal("the sink never got a third of the events")
	}
	// The replica that holds the durable is the one whose logs say so.
	victim, survivor := a, b
	if !strings.Contains(a.logs.String(), "holding the durable") {
		victim, survivor = b, a
	}
	victim.kill()
	<-done
	waitFor(t, "every event acked", en.consumerSettled(t, "fwd", last.seq))
	os.check(t, ccs, perKey)
	if !strings.Contains(survivor.logs.String(), "holding the durable") {
		t.Fatalf("the survivor never took the durable over:\n%s", survivor.logs.String())
	}
	t.Logf("sink requests: %d for %d events", len(sink.got()), keys*perKey)
}

// TestShutdown: two replicas share the durable; on Stop of the one holding
// it, a delivery in flight is released (nak'd) when the deadline comes, the
// events held behind it are released, and Stop returns within its deadline;
// the standby then delivers all of them in order. A delivery that finishes
// within the deadline is acked, not sent again.
func TestShutdown(t *testing.T) {
	cases := []struct {
		name  string
		block time.Duration // how long the sink holds the first delivery
	}{
		{"in flight past the deadline is released", 10 * time.Second},
		{"in flight within the deadline is acked", 300 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const deadline = 1500 * time.Millisecond
			os := &orderSink{seen: map[string][]int{}}
			var once sync.Once
			started := make(chan struct{})
			sink := newTestSink(t, func(w http.ResponseWriter, r *http.Request, attempt int) int {
				os.record(r)
				if attempt == 1 && strings.HasSuffix(r.Header.Get("Ce-Id"), "op0-running") {
					once.Do(func() { close(started) })
					select {
					case <-time.After(tc.block):
					case <-r.Context().Done():
					}
				}
				return http.StatusOK
			})
			en := newEnv(t)
			cfg := testConfig(sink.URL)
			a := en.start(t, cfg)
			cfg.WorkerID = "standby"
			b := en.start(t, cfg)
			var last stored
			for i := range 5 {
				last = en.publish(t, "ctx-stop", fmt.Sprintf("ctx-stop-op%d", i), events.StatusRunning)
			}
			<-started
			holder := a
			if !strings.Contains(a.logs.String(), "holding the durable") {
				holder = b
			}
			waitFor(t, "the events behind the first one held", func() bool {
				holder.f.mu.Lock()
				defer holder.f.mu.Unlock()
				q := holder.f.keys[events.Key("ctx-stop")]
				return q != nil && len(q.items) == 5
			})
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			err := holder.f.Stop(ctx)
			took := time.Since(start)
			holder.stop.Do(func() {})
			if took > deadline {
				t.Fatalf("Stop took %v, over its deadline %v (err %v)", took, deadline, err)
			}
			waitFor(t, "every event acked", en.consumerSettled(t, "fwd", last.seq))
			os.check(t, []string{"ctx-stop"}, 5)
			first := 0
			for _, id := range sink.ids() {
				if strings.HasSuffix(id, "op0-running") {
					first++
				}
			}
			if released := tc.block > deadline; (first == 2) != released || first > 2 {
				t.Errorf("first event sent %d times; released: %v", first, released)
			}
			if len(sink.ids()) != 5+first-1 {
				t.Errorf("requests %v: an event was sent twice", sink.ids())
			}
		})
	}
}

// TestRepinWhileRetrying: when the durable is re-pinned to the same replica
// while one key waits for a retry, the other keys go on at once: the events
// this replica acked above the ack floor get no placeholder.
func TestRepinWhileRetrying(t *testing.T) {
	var mu sync.Mutex
	var order []string
	stuck := eventID("a-op0", events.StatusRunning) // set before the sink can be called
	sink := newTestSink(t, func(w http.ResponseWriter, r *http.Request, attempt int) int {
		mu.Lock()
		order = append(order, fmt.Sprintf("%s#%d", r.Header.Get("Ce-Id"), attempt))
		mu.Unlock()
		if r.Header.Get("Ce-Id") == stuck && attempt == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	en := newEnv(t)
	cfg := testConfig(sink.URL)
	cfg.Backoff, cfg.MaxBackoff = 4*time.Second, 4*time.Second
	r := en.start(t, cfg)
	en.publish(t, "ctx-stuck", "a-op0", events.StatusRunning)
	var bs []stored
	for i := range 3 {
		bs = append(bs, en.publish(t, "ctx-other", fmt.Sprintf("b-op%d", i), events.StatusRunning))
	}
	waitFor(t, "the other key's events acked", func() bool {
		r.f.mu.Lock()
		defer r.f.mu.Unlock()
		return r.f.acked.has(bs[2].seq)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := en.js.Stream(ctx, events.StreamResolved)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UnpinConsumer(ctx, "fwd", PriorityGroup); err != nil {
		t.Fatal(err)
	}
	b3 := en.publish(t, "ctx-other", "b-op3", events.StatusRunning)
	waitFor(t, "every event acked", en.consumerSettled(t, "fwd", b3.seq))
	if n := strings.Count(r.logs.String(), "holding the durable"); n < 2 {
		t.Fatalf("the durable was held %d times, want a re-pin:\n%s", n, r.logs.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if i, j := slices.Index(order, b3.ev.ID()+"#1"), slices.Index(order, stuck+"#2"); i < 0 || j < 0 || i > j {
		t.Fatalf("the other key waited for the retry: %v", order)
	}
}
