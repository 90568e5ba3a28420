package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// latencyResult holds the latencies of the measured operations (those
// started after the warm-up).
type latencyResult struct {
	// events: every resolved event, from the start of the HTTP request that
	// carried its evidence (running: the action response; completed: the
	// completion notification) to its arrival at the subscriber.
	events []time.Duration
	// completed: the completed events only, from the notification's request start.
	completed []time.Duration
	// operation: from the action response's request start to the completed
	// event (both requests, both resolutions).
	operation []time.Duration
	// http: each request's round trip (request start to 202 read).
	http    []time.Duration
	ops     int
	offered float64 // operations per second actually started
	cores   latencyCores
}

// latencyCores is how many cores each process kept busy on average during
// the latency load (warm-up and drain included), with -layout processes.
type latencyCores struct{ nats, resolver, ingest, opsbench float64 }

// benchLatency runs the whole pipeline on the one server: the real ingest on
// loopback HTTP, one resolver worker, and a subscriber reading COMMS_RESOLVED
// with an ordered consumer, each on its own connection. At o.Rate operations
// per second (open loop: operation i starts at i/rate whatever happened
// before) each operation posts its action response (running), then on the
// 202 its completion notification. The clientContext of operation i is
// "lat<run>-<i>-<unix nanos of the response request start>", which is how the
// subscriber matches each event to its operation and request.
func benchLatency(ctx context.Context, b *bench, run int, log *slog.Logger) (latencyResult, error) {
	var res latencyResult
	if err := b.reset(ctx); err != nil {
		return res, err
	}
	layout, err := b.ensure(ctx)
	if err != nil {
		return res, err
	}

	rnc, rjs, err := b.connect("opsbench-resolver")
	if err != nil {
		return res, err
	}
	defer rnc.Close()
	kv, err := rjs.KeyValue(ctx, events.BucketState)
	if err != nil {
		return res, err
	}
	w, err := resolver.NewWorker(ctx, rjs, kv, layout.Partitions, resolver.Config{WorkerID: "opsbench-latency", CommitDelay: b.o.CommitDelay}, log)
	if err != nil {
		return res, err
	}
	if err := w.Start(ctx); err != nil {
		return res, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Stop(stopCtx)
	}()

	inc, ijs, err := b.connect("opsbench-ingest")
	if err != nil {
		return res, err
	}
	defer inc.Close()
	store := inbound.Storer{JS: ijs, Timeout: events.DefaultStoreTimeout}
	h, err := ingest.NewHandler(ingest.Options{Store: store, Ready: streams.Writable(ijs), Log: log})
	if err != nil {
		return res, err
	}
	base, stopHTTP, err := serve(h)
	if err != nil {
		return res, err
	}
	defer stopHTTP()
	return driveLatency(ctx, b, run, base)
}

// driveLatency offers b.o.Rate operations per second to the ingest at base
// (after a warm-up) and measures each resolved event's arrival at a
// subscriber of its own, as benchLatency describes; the resolver must run.
func driveLatency(ctx context.Context, b *bench, run int, base string) (latencyResult, error) {
	var res latencyResult
	rate := max(1, b.o.Rate)
	warmOps := int(float64(rate) * b.o.warmup().Seconds())
	total := warmOps + max(1, int(float64(rate)*b.o.Duration.Seconds()))
	// Per operation: t1, the notification's request start, and the
	// completed event's arrival (unix nanos); the running event's latency and
	// the operation's, measured from the clientContext's time stamp.
	type record struct{ t0, t1, t2, completedAt, runningLat, operationLat atomic.Int64 }
	recs := make([]record, total)
	prefix := "lat" + strconv.Itoa(run) + "-"

	snc, sjs, err := b.connect("opsbench-subscriber")
	if err != nil {
		return res, err
	}
	defer snc.Close()
	oc, err := sjs.OrderedConsumer(ctx, events.StreamResolved, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return res, err
	}
	var arrived, strays atomic.Int64
	cons, err := oc.Consume(func(m jetstream.Msg) {
		now := time.Now().UnixNano()
		cc, err := cehdr.Decode(m.Headers().Get(events.HeaderSubject))
		i, t0, ok := parseLatencyCC(cc, prefix, total)
		if err != nil || !ok {
			strays.Add(1)
			return
		}
		switch m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:] {
		case events.StatusRunning.Token():
			recs[i].runningLat.Store(now - t0)
		case events.StatusCompleted.Token():
			recs[i].completedAt.Store(now)
			recs[i].operationLat.Store(now - t0)
		default:
			strays.Add(1)
			return
		}
		arrived.Add(1)
	})
	if err != nil {
		return res, err
	}
	defer cons.Stop()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var failed atomic.Int64
	var first firstErr
	post := func(url string, body []byte) bool {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			failed.Add(1)
			first.set(err)
			return false
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			failed.Add(1)
			first.set(fmt.Errorf("POST %s: HTTP %d %s", url, resp.StatusCode, rb))
			return false
		}
		return true
	}

	b.profile.start("latency")
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := opID(0x1a7e0000|uint32(run), i)
			t0 := time.Now()
			recs[i].t0.Store(t0.UnixNano())
			cc := prefix + strconv.Itoa(i) + "-" + strconv.FormatInt(t0.UnixNano(), 10)
			if !post(base+"/v1/responses", responseBody(nil, id, cc)) {
				return
			}
			t1 := time.Now()
			recs[i].t1.Store(t1.UnixNano())
			if post(base+"/v1/notifications", completionBody(nil, id, cc)) {
				recs[i].t2.Store(time.Now().UnixNano())
			}
		}()
	}
	dispatched := time.Since(start)
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for arrived.Load() < int64(2*total) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	b.profile.stop("latency")
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if f := failed.Load(); f > 0 {
		return res, fmt.Errorf("%d requests failed; first: %v", f, first.get())
	}
	if got := arrived.Load(); got < int64(2*total) {
		return res, fmt.Errorf("the subscriber got %d of the %d resolved events within 30s", got, 2*total)
	}
	if s := strays.Load(); s > 0 {
		return res, fmt.Errorf("the subscriber got %d events it cannot match to an operation", s)
	}
	for i := warmOps; i < total; i++ {
		r := &recs[i]
		completed := time.Duration(r.completedAt.Load() - r.t1.Load())
		res.events = append(res.events, time.Duration(r.runningLat.Load()), completed)
		res.completed = append(res.completed, completed)
		res.operation = append(res.operation, time.Duration(r.operationLat.Load()))
		res.http = append(res.http, time.Duration(r.t1.Load()-r.t0.Load()), time.Duration(r.t2.Load()-r.t1.Load()))
	}
	res.ops = total - warmOps
	res.offered = float64(total) / max(dispatched, interval).Seconds()
	return res, nil
}

// parseLatencyCC returns i and the time stamp (unix nanos) from
// "<prefix><i>-<nanos>".
func parseLatencyCC(cc, prefix string, total int) (int, int64, bool) {
	rest, ok := strings.CutPrefix(cc, prefix)
	if !ok {
		return 0, 0, false
	}
	is, ts, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, 0, false
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 0 || i >= total {
		return 0, 0, false
	}
	t0, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return i, t0, true
}

// percentile returns the p-quantile (nearest rank) of d in milliseconds.
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := min(len(s)-1, max(0, int(float64(len(s))*p+0.999999)-1))
	return float64(s[i]) / float64(time.Millisecond)
}
