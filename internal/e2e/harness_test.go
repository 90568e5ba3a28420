package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

const testPartitions = 4

type pipeline struct {
	t      *testing.T
	srv    *natstest.Server // nil on a cluster
	url    string
	js     jetstream.JetStream
	http   *httptest.Server
	layout *streams.Layout
	out    *collector
}

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// startPipeline runs a server, the streams, an ingest over httptest, and a
// collector of resolved events. Workers are started separately.
func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	srv := natstest.Run(t)
	p := startPipelineAt(t, srv.URL(), 1)
	p.srv = srv
	return p
}

// startPipelineAt is startPipeline against url (a server or a cluster) with
// streams of the given replicas.
func startPipelineAt(t *testing.T, url string, replicas int) *pipeline {
	t.Helper()
	_, js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	layout, err := streams.Ensure(ctx, js, streams.Config{Partitions: testPartitions, Replicas: replicas})
	if err != nil {
		t.Fatal(err)
	}
	store := inbound.Storer{JS: js, Timeout: events.DefaultStoreTimeout}
	h, err := ingest.NewHandler(ingest.Options{Store: store, Ready: streams.Writable(js), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	p := &pipeline{t: t, url: url, js: js, http: ts, layout: layout}
	p.out = collect(t, url)
	return p
}

// worker is a resolver with its own NATS connection, so a test can kill it
// without any cleanup by closing that connection.
type worker struct {
	w      *resolver.Worker
	nc     *nats.Conn
	killed bool
}

func (p *pipeline) startWorker(id string, cfg resolver.Config) *worker {
	p.t.Helper()
	nc, err := nats.Connect(p.url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.Name(id))
	if err != nil {
		p.t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		p.t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), events.BucketState)
	if err != nil {
		p.t.Fatal(err)
	}
	cfg.WorkerID = id
	if cfg.Members == nil {
		members, err := js.KeyValue(context.Background(), streams.BucketWorkers)
		if err != nil {
			p.t.Fatal(err)
		}
		cfg.Members = members
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 250 * time.Millisecond
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 2 * time.Second
	}
	if cfg.PinnedTTL == 0 {
		cfg.PinnedTTL = time.Second
	}
	w, err := resolver.NewWorker(context.Background(), js, kv, p.layout.Partitions, cfg, testLog(p.t))
	if err != nil {
		p.t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		p.t.Fatal(err)
	}
	wk := &worker{w: w, nc: nc}
	p.t.Cleanup(func() { wk.stopAtCleanup(p.t) })
	return wk
}

// stop drains the worker gracefully. Idempotent.
func (wk *worker) stop(t testing.TB) {
	if wk.nc.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wk.w.Stop(ctx); err != nil {
		t.Errorf("worker stop: %v", err)
	}
	wk.nc.Close()
}

// stopAtCleanup drains like stop but only logs a drain that overruns its
// deadline: at cleanup, right after fault injection on a loaded machine, that
// is Stop working as designed (what it held is redelivered), not a failure.
// Tests that assert a complete drain call stop and check the consumers.
func (wk *worker) stopAtCleanup(t testing.TB) {
	if wk.killed {
		// Its connection is gone, but its goroutines still wait out the
		// failures that left them (a killed worker's work never passes):
		// Stop ends them, within the test.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = wk.w.Stop(ctx)
		return
	}
	if wk.nc.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := wk.w.Stop(ctx); err != nil {
		t.Logf("worker stop at cleanup: %v", err)
	}
	wk.nc.Close()
}

// kill drops the worker's connection with no drain, no acks of what it
// holds. Its goroutines are ended at cleanup.
func (wk *worker) kill() {
	wk.killed = true
	wk.nc.Close()
}

// post sends body to route and returns the status code.
func (p *pipeline) post(route string, body any, hdr ...string) int {
	p.t.Helper()
	var b []byte
	switch v := body.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			p.t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, p.http.URL+route, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		p.t.Logf("POST %s → %d %s", route, resp.StatusCode, rb)
	}
	return resp.StatusCode
}

func (p *pipeline) mustPost(route string, body any) {
	p.t.Helper()
	if code := p.post(route, body); code != http.StatusAccepted {
		p.t.Fatalf("POST %s = %d, want 202", route, code)
	}
}

// resolvedEvent is one message of COMMS_RESOLVED as a subscriber sees it.
type resolvedEvent struct {
	Seq     uint64
	Trace   string
	Raw     []byte
	ID      string
	Type    string
	Subject string
	Data    events.ResolvedOperation
}

// collector reads COMMS_RESOLVED from the start with an ordered consumer.
type collector struct {
	mu  sync.Mutex
	all []resolvedEvent
	err error
}

func collect(t *testing.T, url string) *collector {
	_, js := natstest.Connect(t, url)
	c := &collector{}
	oc, err := js.OrderedConsumer(context.Background(), events.StreamResolved, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := oc.Consume(func(m jetstream.Msg) {
		e, err := events.DecodeMsg(m.Headers(), m.Data())
		meta, _ := m.Metadata()
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.err = err
			return
		}
		var data events.ResolvedOperation
		if err := json.Unmarshal(e.Data(), &data); err != nil {
			c.err = err
			return
		}
		trace, _ := e.Extensions()[events.ExtTraceParent].(string)
		c.all = append(c.all, resolvedEvent{Seq: meta.Sequence.Stream, Trace: trace, Raw: append([]byte(nil), e.Data()...), ID: e.ID(), Type: e.Type(), Subject: m.Subject(), Data: data})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return c
}

func (c *collector) snapshot() []resolvedEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]resolvedEvent(nil), c.all...)
}

// waitFor polls until cond holds for the collected events or the deadline passes.
func (c *collector) waitFor(t *testing.T, d time.Duration, what string, cond func([]resolvedEvent) bool) []resolvedEvent {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		evs := c.snapshot()
		if c.err != nil {
			t.Fatalf("collector: %v", c.err)
		}
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; have %d events:\n%s", what, len(evs), describe(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until no new event arrived for quiet, so tests can assert
// that nothing more (no duplicate, no step back) is emitted.
func (c *collector) settle(quiet time.Duration) []resolvedEvent {
	n := -1
	for {
		evs := c.snapshot()
		if len(evs) == n {
			return evs
		}
		n = len(evs)
		time.Sleep(quiet)
	}
}

func describe(evs []resolvedEvent) string {
	var b bytes.Buffer
	for _, e := range evs {
		fmt.Fprintf(&b, "  #%d %s cc=%q op=%q %s race=%v\n", e.Seq, e.Data.Status, e.Data.ClientContext, e.Data.OperationID, e.ID, e.Data.RaceDetected)
	}
	return b.String()
}

// statusesOf returns the statuses emitted for clientContext cc (and operation
// id op when not ""), in stream order.
func statusesOf(evs []resolvedEvent, cc, op string) []events.Status {
	var out []events.Status
	for _, e := range evs {
		if e.Data.ClientContext == cc && (op == "" || e.Data.OperationID == op) {
			out = append(out, e.Data.Status)
		}
	}
	return out
}

// assertInvariants checks what must hold of any COMMS_RESOLVED content: ids
// unique, one event per (operation, status), statuses strictly forward per
// operation in stream order.
func assertInvariants(t *testing.T, evs []resolvedEvent) {
	t.Helper()
	seen := map[string]bool{}
	rank := map[string]int{}
	perStatus := map[string]int{}
	for _, e := range evs {
		if seen[e.ID] {
			t.Errorf("event id %s appears twice", e.ID)
		}
		seen[e.ID] = true
		op := e.Data.ClientContext + "|" + e.Data.CallID + "|" + e.Data.OperationID
		if e.Data.OperationID == "" {
			op += "|" + e.Subject // operations never given an id are told apart by their key subject
		}
		perStatus[op+"|"+string(e.Data.Status)]++
		if r := e.Data.Status.Rank(); r > 0 {
			if r <= rank[op] {
				t.Errorf("operation %s stepped back or repeated to %s (#%d)", op, e.Data.Status, e.Seq)
			}
			rank[op] = r
		}
	}
	keys := make([]string, 0, len(perStatus))
	for k, n := range perStatus {
		if n > 1 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Errorf("%d events for %s", perStatus[k], k)
	}
}
