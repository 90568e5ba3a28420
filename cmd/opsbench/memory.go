package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/pkg/events"
)

// memoryResult is what loading n open operations through one worker cost,
// scaled to 100k operations.
type memoryResult struct {
	n int
	// processMB: HeapInuse after minus before loading, both after a GC: the
	// worker plus what the embedded server keeps for the messages.
	processMB float64
	// resolverMB: the part of it allocated by the resolver (heap profile
	// records with a frame of internal/resolver in their stack, sampled every
	// 512 bytes during the phase).
	resolverMB float64
	// releasedMB: how much HeapInuse fell when the worker was stopped and
	// dropped (a cross-check of resolverMB; the server's caches move too).
	releasedMB float64
	// peakMB: the highest HeapInuse sampled while loading (no forced GC)
	// minus before.
	peakMB float64
	// kvBytes: bytes COMMS_OPS stores per open operation.
	kvBytes float64
}

// heapInuse returns HeapInuse after a full collection.
func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// benchMemory loads o.OpenOps open operations (an action response with status
// running each, on its own clientContext, no completion) through one worker
// and measures the heap it holds for them. With memprofile set, a heap
// profile is written while the worker holds them.
func benchMemory(ctx context.Context, b *bench, run int, memprofile string, log *slog.Logger) (memoryResult, error) {
	n := max(1, b.o.OpenOps)
	res := memoryResult{n: n}
	if err := b.reset(ctx); err != nil {
		return res, err
	}
	layout, err := b.ensure(ctx)
	if err != nil {
		return res, err
	}
	ins := make([]inbound.Inbound, n)
	var buf []byte
	for i := range ins {
		id := opID(0x0be70000|uint32(run), i)
		buf = responseBody(buf, id, "open-"+strconv.Itoa(run)+"-"+strconv.Itoa(i))
		p, err := graphwire.ParseActionResponse(buf)
		if err != nil {
			return res, err
		}
		if ins[i], err = inbound.ResponseEvent(p, append([]byte(nil), buf...), inbound.Options{}); err != nil {
			return res, err
		}
	}

	// Sample the heap finely while this phase's worker allocates, to tell
	// its state from the embedded server's. Earlier phases ran unsampled.
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 512
	w, closeWorker, err := func() (*resolver.Worker, func(), error) {
		nc, js, err := b.connect("opsbench-resolver")
		if err != nil {
			return nil, nil, err
		}
		kv, err := js.KeyValue(ctx, events.BucketState)
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		w, err := resolver.NewWorker(ctx, js, kv, layout.Partitions, resolver.Config{WorkerID: "opsbench-memory", CacheSize: max(100_000, n), CommitDelay: b.o.CommitDelay}, log)
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		if err := w.Start(ctx); err != nil {
			nc.Close()
			return nil, nil, err
		}
		return w, nc.Close, nil
	}()
	if err != nil {
		return res, err
	}
	stopWorker := func() error {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := w.Stop(stopCtx)
		closeWorker()
		return err
	}

	before := heapInuse()
	resolverBefore := resolverHeap()
	// Sample the peak while loading.
	var peak uint64
	sampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-sampling:
				return
			case <-t.C:
			}
		}
	}()
	b.profile.start("memory")
	_, err = b.preload(ctx, b.ajs, ins)
	if err == nil {
		err = b.waitMsgs(ctx, events.StreamResolved, n, timeLimit(3*n))
	}
	if err == nil {
		err = b.waitDrained(ctx, layout.Partitions, timeLimit(n))
	}
	b.profile.stop("memory")
	close(sampling)
	sampler.Wait()
	if err != nil {
		_ = stopWorker()
		return res, err
	}
	ins = nil
	loaded := heapInuse()
	resolverLoaded := resolverHeap()
	if memprofile != "" {
		if err := writeHeapProfile(memprofile); err != nil {
			_ = stopWorker()
			return res, err
		}
	}
	_, kvBytes, err := b.streamMsgs(ctx, "KV_"+events.BucketState)
	if err != nil {
		_ = stopWorker()
		return res, err
	}
	if err := stopWorker(); err != nil {
		return res, fmt.Errorf("resolver stop: %w", err)
	}
	w = nil
	gone := heapInuse()

	per100k := func(bytes int64) float64 { return float64(bytes) / float64(n) * 100_000 / (1 << 20) }
	res.resolverMB = per100k(resolverLoaded - resolverBefore)
	res.releasedMB = per100k(int64(loaded) - int64(gone))
	res.processMB = per100k(int64(loaded) - int64(before))
	res.peakMB = per100k(int64(peak) - int64(before))
	res.kvBytes = float64(kvBytes) / float64(n)
	return res, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// resolverHeap estimates the bytes in use, as of the last GC, of objects
// allocated with a frame of the resolver package in their stack, scaling the
// heap profile's samples as pprof does.
func resolverHeap() int64 {
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	rate := float64(runtime.MemProfileRate)
	isResolver := map[uintptr]bool{}
	total := 0.0
	for _, r := range recs {
		objs, bytes := r.InUseObjects(), r.InUseBytes()
		if objs <= 0 || !stackHas(r.Stack(), isResolver) {
			continue
		}
		avg := float64(bytes) / float64(objs)
		total += float64(bytes) / (1 - math.Exp(-avg/rate))
	}
	return int64(total)
}

const resolverPkg = "github.com/commsops/commsops/internal/resolver."

// stackHas reports whether a frame of stack is in the resolver package.
func stackHas(stack []uintptr, cache map[uintptr]bool) bool {
	for _, pc := range stack {
		in, ok := cache[pc]
		if !ok {
			frames := runtime.CallersFrames([]uintptr{pc})
			for {
				f, more := frames.Next()
				if strings.HasPrefix(f.Function, resolverPkg) {
					in = true
				}
				if !more {
					break
				}
			}
			cache[pc] = in
		}
		if in {
			return true
		}
	}
	return false
}
