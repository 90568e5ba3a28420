package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// benchIngest serves three handlers, each on loopback with net/http, under
// the same load: o.Clients keep-alive clients posting distinct one-operation
// notification callbacks back to back for o.Duration (after a warm-up):
//   - the real ingest handler (internal/ingest with an events.Publisher, as
//     cmd/ingest builds it, without authentication);
//   - a bare handler that stores each raw body with one synchronous
//     js.Publish on a plain stream (the ceiling of a naive ingest);
//   - a shaped handler, the bare one storing what the contract asks the
//     ingest to store: the body with the ingest's CloudEvents headers, a
//     Nats-Msg-Id, on a subject of its own key in COMMS_IN. It does not parse:
//     it separates the contract's storage cost from the ingest's own work.
//
// Returns 202s per second of each. The order rotates between runs so that
// drift does not favour one.
func benchIngest(ctx context.Context, b *bench, run int, log *slog.Logger) (real, bare, shaped loadResult, err error) {
	if err := b.reset(ctx); err != nil {
		return real, bare, shaped, err
	}
	if _, err := b.ensure(ctx); err != nil {
		return real, bare, shaped, err
	}
	if err := b.plainStream(ctx, "BENCH_BARE", "bench.bare.>"); err != nil {
		return real, bare, shaped, err
	}
	nc, js, err := b.connect("opsbench-ingest")
	if err != nil {
		return real, bare, shaped, err
	}
	defer nc.Close()
	store := inbound.Storer{JS: js, Timeout: events.DefaultStoreTimeout}
	realHandler, err := ingest.NewHandler(ingest.Options{Store: store, Ready: streams.Writable(js), Log: log})
	if err != nil {
		return real, bare, shaped, err
	}
	bnc, bjs, err := b.connect("opsbench-bare-ingest")
	if err != nil {
		return real, bare, shaped, err
	}
	defer bnc.Close()
	bareHandler := newBareHandler(bjs)
	shapedHandler, err := newShapedHandler(bjs)
	if err != nil {
		return real, bare, shaped, err
	}
	measure := func(h http.Handler, tag string) (loadResult, error) {
		base, stop, err := serve(h)
		if err != nil {
			return loadResult{}, err
		}
		defer stop()
		phase := map[string]string{"r": "ingest", "b": "bare", "s": "shaped"}[tag]
		b.profile.start(phase)
		defer b.profile.stop(phase)
		return load(ctx, base+"/v1/notifications", b.o.Clients, b.o.warmup(), b.o.Duration,
			func(client, i int, buf []byte) []byte {
				n := client<<32 | i
				return notificationBody(buf, opID(uint32(run)<<8|uint32(tag[0]), n), "load-"+tag+strconv.Itoa(run)+"-"+strconv.Itoa(n), "running")
			})
	}
	handlers := []struct {
		h   http.Handler
		tag string
		out *loadResult
	}{{realHandler, "r", &real}, {bareHandler, "b", &bare}, {shapedHandler, "s", &shaped}}
	for i := range handlers {
		h := handlers[(i+run)%len(handlers)]
		if *h.out, err = measure(h.h, h.tag); err != nil {
			return real, bare, shaped, err
		}
	}
	return real, bare, shaped, nil
}

// newBareHandler returns the bare handler of benchIngest: it reads the body
// and stores it with one synchronous publish on bench.bare.in, 202 once
// stored.
func newBareHandler(js jetstream.JetStream) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := js.Publish(r.Context(), "bench.bare.in", body); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// newShapedHandler returns the shaped handler of benchIngest: it reads the
// body and stores it with one synchronous publish, as the bare handler does,
// but as the ingest's event would be stored (headers taken from a real
// callback once, a fresh id and key per request).
func newShapedHandler(js jetstream.JetStream) (http.Handler, error) {
	sample, err := graphwire.ParseNotifications(notificationBody(nil, opID(0, 0), "shaped", "running"))
	if err != nil {
		return nil, err
	}
	ins, err := inbound.NotificationEvents(sample, inbound.Options{})
	if err != nil {
		return nil, err
	}
	tmpl, err := events.EncodeMsg(ins[0].Subject, ins[0].Event())
	if err != nil {
		return nil, err
	}
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := "n-shaped-" + strconv.FormatInt(n.Add(1), 10)
		msg := &nats.Msg{Subject: inbound.InSubject(graphwire.KindOperation, id), Header: maps.Clone(tmpl.Header), Data: body}
		msg.Header.Set(events.HeaderID, id)
		if _, err := js.PublishMsg(r.Context(), msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(events.StreamIn)); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}), nil
}

// loadResult is what a load generator run measured.
type loadResult struct {
	rate      float64       // 202s per second within the measured window
	reqs      int64         // 202s in all, warm-up included
	cpuPerReq time.Duration // process CPU (server, handler, clients) per 202, warm-up included
}

// load runs clients keep-alive HTTP clients, each posting gen's bodies to url
// back to back, for warmup plus dur, and returns the 202s per second that
// completed within dur after the warm-up. More than 1% of failures is an
// error.
func load(ctx context.Context, url string, clients int, warmup, dur time.Duration, gen func(client, i int, buf []byte) []byte) (loadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	from := time.Now().Add(warmup)
	to := from.Add(dur)
	var ok, all, failed atomic.Int64
	t := startTimer()
	var first firstErr
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := 0; ctx.Err() == nil; i++ {
				if time.Now().After(to) {
					return
				}
				buf = gen(c, i, buf)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(buf))
				if err != nil {
					first.set(err)
					failed.Add(1)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					first.set(err)
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				now := time.Now()
				if resp.StatusCode != http.StatusAccepted {
					first.set(fmt.Errorf("HTTP %d: %s", resp.StatusCode, body))
					failed.Add(1)
					continue
				}
				all.Add(1)
				if now.After(from) && !now.After(to) {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	_, cpu := t.stop()
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}
	if f := failed.Load(); f > 0 && f*100 > ok.Load() {
		return loadResult{}, fmt.Errorf("%d requests failed, %d succeeded; first failure: %v", f, ok.Load(), first.get())
	}
	return loadResult{rate: float64(ok.Load()) / dur.Seconds(), reqs: all.Load(), cpuPerReq: cpu / time.Duration(max(1, all.Load()))}, nil
}
