package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// benchIngest serves the real ingest handler (internal/ingest with an
// events.Publisher, as cmd/ingest builds it, without authentication) and a
// bare handler that stores each raw body with one synchronous js.Publish,
// each on loopback with net/http, under the same load: o.Clients keep-alive
// clients posting distinct one-operation notification callbacks back to back
// for o.Duration (after a warm-up). Returns 202s per second of each. The
// order alternates between runs so that drift does not favour one.
func benchIngest(ctx context.Context, b *bench, run int, log *slog.Logger) (real, bare loadResult, err error) {
	if err := b.reset(ctx); err != nil {
		return real, bare, err
	}
	if _, err := b.ensure(ctx); err != nil {
		return real, bare, err
	}
	if err := b.plainStream(ctx, "BENCH_BARE", "bench.bare.>"); err != nil {
		return real, bare, err
	}
	nc, js, err := b.connect("opsbench-ingest")
	if err != nil {
		return real, bare, err
	}
	defer nc.Close()
	pub, err := events.NewPublisher(js)
	if err != nil {
		return real, bare, err
	}
	realHandler, err := ingest.NewHandler(ingest.Options{Store: pub, Ready: streams.Writable(js), Log: log})
	if err != nil {
		return real, bare, err
	}
	bnc, bjs, err := b.connect("opsbench-bare-ingest")
	if err != nil {
		return real, bare, err
	}
	defer bnc.Close()
	bareHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := bjs.Publish(r.Context(), "bench.bare.in", body); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	measure := func(h http.Handler, tag string) (loadResult, error) {
		base, stop, err := serve(h)
		if err != nil {
			return loadResult{}, err
		}
		defer stop()
		phase := "ingest"
		if tag == "b" {
			phase = "bare"
		}
		b.profile.start(phase)
		defer b.profile.stop(phase)
		return load(ctx, base+"/v1/notifications", b.o.Clients, b.o.warmup(), b.o.Duration,
			func(client, i int, buf []byte) []byte {
				n := client<<32 | i
				return notificationBody(buf, opID(uint32(run)<<8|uint32(tag[0]), n), "load-"+tag+strconv.Itoa(run)+"-"+strconv.Itoa(n), "running")
			})
	}
	if run%2 == 0 {
		if real, err = measure(realHandler, "r"); err == nil {
			bare, err = measure(bareHandler, "b")
		}
	} else {
		if bare, err = measure(bareHandler, "b"); err == nil {
			real, err = measure(realHandler, "r")
		}
	}
	return real, bare, err
}

// loadResult is what a load generator run measured.
type loadResult struct {
	rate      float64       // 202s per second within the measured window
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
	var firstErr atomic.Value
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
					firstErr.CompareAndSwap(nil, err)
					failed.Add(1)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				now := time.Now()
				if resp.StatusCode != http.StatusAccepted {
					firstErr.CompareAndSwap(nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body))
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
		return loadResult{}, fmt.Errorf("%d requests failed, %d succeeded; first failure: %v", f, ok.Load(), firstErr.Load())
	}
	return loadResult{rate: float64(ok.Load()) / dur.Seconds(), cpuPerReq: cpu / time.Duration(max(1, all.Load()))}, nil
}
