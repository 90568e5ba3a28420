package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// TestBrokerRestartMidStream: with the file-backed server down, the ingest
// answers 503 + Retry-After and acknowledges nothing; once the server is back
// it stores again, the resolver reconnects by itself, and everything that was
// acknowledged is resolved exactly as the model says.
func TestBrokerRestartMidStream(t *testing.T) {
	p := startPipeline(t)
	// An ingest with a short store timeout, on its own reconnecting connection.
	_, js := natstest.Connect(t, p.url)
	store := inbound.Storer{JS: js, Timeout: events.DefaultStoreTimeout}
	h, _ := ingest.NewHandler(ingest.Options{Store: store, Ready: streams.Writable(js), Log: testLog(t), StoreTimeout: 300 * time.Millisecond})
	ts := httptest.NewServer(h)
	defer ts.Close()
	p.http = ts

	p.startWorker("w1", resolverDefaults())
	ops, seq := generate(rand.New(rand.NewPCG(11, 11)), 120)
	acked := make([]traffic.Evidence, 0, len(seq))
	postEvidence := func(e traffic.Evidence) int {
		route, body := e.Body()
		return p.post(route, body)
	}
	third := len(seq) / 3
	for _, e := range seq[:third] {
		if code := postEvidence(e); code != http.StatusAccepted {
			t.Fatalf("before the outage: %d", code)
		}
		acked = append(acked, e)
	}

	p.srv.Shutdown()
	// While down: 503 with Retry-After and a problem body; /readyz says 503.
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/notifications", stringsReader(mustJSON(notification(op{typ: "playPromptOperation", id: "0fe0623f-d628-42ed-b4bd-8ac290072cc5", cc: "during-outage", status: "running"}))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("during outage: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if r, err := http.Get(ts.URL + "/readyz"); err != nil || r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz during outage: %v %v", r.StatusCode, err)
	}

	p.srv.Restart()
	// Graph retries until stored: so do we.
	for _, e := range seq[third:] {
		deadline := time.Now().Add(20 * time.Second)
		for postEvidence(e) != http.StatusAccepted {
			if time.Now().After(deadline) {
				t.Fatal("the ingest did not recover after the restart")
			}
			time.Sleep(100 * time.Millisecond)
		}
		acked = append(acked, e)
	}
	want, n := traffic.Expect(acked)
	// The request refused during the outage may still have been stored (the
	// connection flushes its buffer on reconnecting): a 503 promises only
	// that nothing was acknowledged. Its events are not the model's.
	outage := func(e resolvedEvent) bool { return e.Data.ClientContext == "during-outage" }
	p.out.waitFor(t, 60*time.Second, fmt.Sprintf("%d events", n), func(evs []resolvedEvent) bool {
		return len(slices.DeleteFunc(evs, outage)) >= n
	})
	checkAgainstModel(t, ops, want, slices.DeleteFunc(p.out.settle(500*time.Millisecond), outage))
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestGracefulStopAndTakeover: a worker stopped gracefully mid-stream drains
// what it holds (nothing left pending, no redelivery), the next one takes
// over; the output equals the model. The takeover time is logged.
func TestGracefulStopAndTakeover(t *testing.T) {
	p := startPipeline(t)
	ops, seq := generate(rand.New(rand.NewPCG(5, 5)), 200)
	want, n := traffic.Expect(seq)
	w := p.startWorker("w1", resolverDefaults())
	half := len(seq) / 2
	p.publishAll(t, seq[:half])
	p.out.waitFor(t, 60*time.Second, "progress", func(evs []resolvedEvent) bool { return len(evs) >= n/4 })
	w.stop(t)

	ctx := context.Background()
	pending := 0
	for i := 0; i < p.layout.Partitions; i++ {
		c, err := p.js.Consumer(ctx, events.StreamIn, fmt.Sprintf("resolver-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pending += info.NumAckPending + info.NumRedelivered
	}
	if pending != 0 {
		t.Fatalf("after a graceful stop %d messages are pending or redelivered", pending)
	}
	before := len(p.out.snapshot())
	start := time.Now()
	p.startWorker("w2", resolverDefaults())
	p.publishAll(t, seq[half:])
	p.out.waitFor(t, 30*time.Second, "takeover", func(evs []resolvedEvent) bool { return len(evs) > before })
	t.Logf("takeover: first resolved event %v after the new worker started", time.Since(start))
	p.out.waitModelled(t, 60*time.Second, n)
	checkAgainstModel(t, ops, want, p.out.settle(500*time.Millisecond))
}
