package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/pkg/events"
)

// benchPublish: async publishes of commsops-sized events, waiting for all acks.
func benchPublish(ctx context.Context, o Options) (float64, error) {
	e, err := newEnv(ctx, o)
	if err != nil {
		return 0, err
	}
	defer e.close()
	_, seq := traffic(o, 1)
	var msgs []*nats.Msg
	for _, ev := range seq {
		ins, err := ev.inbound()
		if err != nil {
			return 0, err
		}
		for _, in := range ins {
			m, err := events.EncodeMsg(in.Subject, in.Event)
			if err != nil {
				return 0, err
			}
			msgs = append(msgs, m)
		}
	}
	start := time.Now()
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := e.js.PublishMsgAsync(m)
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, err
		}
	}
	return float64(len(msgs)) / time.Since(start).Seconds(), nil
}

// benchRelay: consume COMMS_IN, republish each message to another stream
// (async), ack after its publish ack. No parsing, no state.
func benchRelay(ctx context.Context, o Options) (float64, error) {
	e, err := newEnv(ctx, o)
	if err != nil {
		return 0, err
	}
	defer e.close()
	_, seq := traffic(o, 1)
	n, err := e.preload(ctx, seq)
	if err != nil {
		return 0, err
	}
	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "RELAY", Subjects: []string{"relay.>"}}); err != nil {
		return 0, err
	}
	cons, err := e.js.CreateConsumer(ctx, events.StreamIn, jetstream.ConsumerConfig{Durable: "relay",
		AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: events.InFilter(-1, events.KindOperation), MaxAckPending: 16384})
	if err != nil {
		return 0, err
	}
	var acked atomic.Int64
	done := make(chan error, 1)
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		h := nats.Header{}
		for k, v := range m.Headers() {
			if !strings.HasPrefix(k, "Nats-") {
				h[k] = v
			}
		}
		f, err := e.js.PublishMsgAsync(&nats.Msg{Subject: "relay." + m.Subject(), Header: h, Data: m.Data()})
		if err != nil {
			select {
			case done <- err:
			default:
			}
			return
		}
		go func() {
			select {
			case <-f.Ok():
				_ = m.Ack()
				if acked.Add(1) == int64(n) {
					done <- nil
				}
			case err := <-f.Err():
				select {
				case done <- err:
				default:
				}
			}
		}()
	}, jetstream.PullMaxMessages(512))
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	select {
	case err := <-done:
		if err != nil {
			return 0, err
		}
	case <-time.After(10 * time.Minute):
		return 0, fmt.Errorf("relay moved %d of %d", acked.Load(), n)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// benchResolver: one worker drains the preloaded traffic; the output is
// checked against the model.
func benchResolver(ctx context.Context, o Options, log *slog.Logger) (float64, string, error) {
	e, err := newEnv(ctx, o)
	if err != nil {
		return 0, "", err
	}
	defer e.close()
	ops, seq := traffic(o, 1)
	want, nEvents := model(seq)
	n, err := e.preload(ctx, seq)
	if err != nil {
		return 0, "", err
	}
	w, err := resolver.NewWorker(ctx, e.js, e.layout.State, e.layout.Partitions, resolver.Config{WorkerID: "bench"}, log)
	if err != nil {
		return 0, "", err
	}
	start := time.Now()
	if err := w.Start(ctx); err != nil {
		return 0, "", err
	}
	err = waitCount(ctx, e.js, events.StreamResolved, nEvents, 10*time.Minute)
	el := time.Since(start)
	_ = w.Stop(ctx)
	if err != nil {
		return 0, "", err
	}
	verdict, err := verify(ctx, e.js, ops, want)
	return float64(n) / el.Seconds(), verdict, err
}

// verify reads COMMS_RESOLVED and checks: ids unique, one event per
// (operation, status), forward-only per operation, equal to the model.
func verify(ctx context.Context, js jetstream.JetStream, ops []*operation, want map[*operation][]events.Status) (string, error) {
	oc, err := js.OrderedConsumer(ctx, events.StreamResolved, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return "", err
	}
	s, _ := js.Stream(ctx, events.StreamResolved)
	info, err := s.Info(ctx)
	if err != nil {
		return "", err
	}
	got := map[string][]events.Status{}
	ids := map[string]bool{}
	violations := 0
	for i := uint64(0); i < info.State.Msgs; i++ {
		m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return "", err
		}
		ev, err := events.DecodeMsg(m.Headers(), m.Data())
		if err != nil {
			return "", err
		}
		var r events.ResolvedOperation
		if err := json.Unmarshal(ev.Data(), &r); err != nil {
			return "", err
		}
		if ids[ev.ID()] {
			violations++
		}
		ids[ev.ID()] = true
		k := r.ClientContext + "|" + r.OperationID
		if prev := got[k]; len(prev) > 0 && r.Status.Rank() <= prev[len(prev)-1].Rank() {
			violations++
		}
		got[k] = append(got[k], r.Status)
	}
	for _, op := range ops {
		w := want[op]
		g := got[op.cc+"|"+op.id]
		if fmt.Sprint(g) != fmt.Sprint(w) {
			violations++
		}
	}
	verdict := fmt.Sprintf("verified: %d operations, %d events, %d violations", len(ops), len(ids), violations)
	if violations > 0 {
		return verdict, fmt.Errorf("resolver output does not match the contract: %s", verdict)
	}
	return verdict, nil
}

// benchIngest: the real ingest and a bare synchronous handler under the same
// concurrent keep-alive load of distinct callbacks.
func benchIngest(ctx context.Context, o Options, log *slog.Logger) (real, bare float64, err error) {
	e, err := newEnv(ctx, o)
	if err != nil {
		return 0, 0, err
	}
	defer e.close()
	pub, err := events.NewPublisher(e.js)
	if err != nil {
		return 0, 0, err
	}
	h, err := ingest.NewHandler(ingest.Options{Store: pub, Log: log})
	if err != nil {
		return 0, 0, err
	}
	if real, err = load(ctx, h, o); err != nil {
		return 0, 0, err
	}
	bareHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if _, err := e.js.Publish(r.Context(), "comms.in.bare.raw", b); err != nil {
			http.Error(w, err.Error(), 503)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	bare, err = load(ctx, bareHandler, o)
	return real, bare, err
}

// load serves h on loopback and posts distinct notification callbacks from
// o.Clients keep-alive clients for o.Duration; it returns 202s per second.
func load(ctx context.Context, h http.Handler, o Options) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/v1/notifications"
	tr := &http.Transport{MaxIdleConnsPerHost: o.Clients, MaxConnsPerHost: o.Clients}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var ok, failed atomic.Int64
	deadline := time.Now().Add(o.Duration)
	var wg sync.WaitGroup
	for c := 0; c < o.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				op := &operation{cc: fmt.Sprintf("load-%d-%d", c, i), id: fmt.Sprintf("%08x-0000-4000-8000-%012x", c, i)}
				_, body := evidence{op: op, status: "running"}.body()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	if failed.Load() > ok.Load()/100 {
		return 0, fmt.Errorf("%d of %d requests failed", failed.Load(), ok.Load()+failed.Load())
	}
	return float64(ok.Load()) / o.Duration.Seconds(), nil
}

// benchLatency: ingest + resolver + subscriber; at o.Rate operations/s, each a
// running response then a completion notification, it measures from the
// completion's request start to its completed event at the subscriber.
func benchLatency(ctx context.Context, o Options, log *slog.Logger) ([]time.Duration, error) {
	e, err := newEnv(ctx, o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	w, err := resolver.NewWorker(ctx, e.js, e.layout.State, e.layout.Partitions, resolver.Config{WorkerID: "latency"}, log)
	if err != nil {
		return nil, err
	}
	if err := w.Start(ctx); err != nil {
		return nil, err
	}
	defer w.Stop(context.Background())
	pub, _ := events.NewPublisher(e.js)
	h, err := ingest.NewHandler(ingest.Options{Store: pub, Log: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	sub, err := events.NewSubscriber(e.js, events.FilterStatus(events.StatusCompleted), events.Concurrency(8))
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() {
		subDone <- sub.Run(sctx, func(_ context.Context, r *events.Resolved) error {
			now := time.Now()
			mu.Lock()
			if t, ok := sent[r.Data.ClientContext]; ok {
				lat = append(lat, now.Sub(t))
			}
			mu.Unlock()
			return nil
		})
	}()
	time.Sleep(200 * time.Millisecond)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	post := func(ev evidence, mark bool) {
		route, body := ev.body()
		t := time.Now()
		if mark {
			mu.Lock()
			sent[ev.op.cc] = t
			mu.Unlock()
		}
		resp, err := client.Post(base+route, "application/json", bytes.NewReader(body))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	interval := time.Second / time.Duration(max(1, o.Rate))
	total := int(o.Duration.Seconds() * float64(o.Rate))
	var wg sync.WaitGroup
	tick := time.NewTicker(interval)
	for i := 0; i < total && ctx.Err() == nil; i++ {
		<-tick.C
		op := &operation{cc: fmt.Sprintf("lat-%d", i), id: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			post(evidence{op: op, response: true, status: "running"}, false)
			post(evidence{op: op, status: "completed"}, true)
		}()
	}
	tick.Stop()
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-subDone
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < total {
		return nil, fmt.Errorf("only %d of %d operations resolved", len(lat), total)
	}
	return lat, nil
}

// benchMemory: the resolver's cached state per open operation (a running
// response each) and its KV value size.
func benchMemory() (heapPerOp, kvPerOp float64) {
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	states := make([]*resolver.KeyState, n)
	kv := 0
	now := time.Now()
	for i := range states {
		st := &resolver.KeyState{Key: fmt.Sprintf("cc-%08d", i)}
		ev := &resolver.Evidence{Seq: uint64(i + 1), Kind: events.SourceResponse, ReceivedAt: now, CallID: callID,
			OpID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), ODataType: "#microsoft.graph.playPromptOperation",
			Status: events.StatusRunning, ClientContext: st.Key}
		st.Outbox = st.Apply(ev)
		if s, ok := st.StallSchedule(10*time.Minute, "comms.in.0.op."+st.Key, now); ok {
			st.Outbox = append(st.Outbox, s)
		}
		b, _ := json.Marshal(st)
		kv += len(b)
		st.Outbox = nil
		states[i] = st
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(states)
	return float64(after.HeapAlloc-before.HeapAlloc) / n, float64(kv) / n
}
