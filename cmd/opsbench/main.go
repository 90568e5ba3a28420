// Command opsbench measures commsops against the bare JetStream ceiling on
// the same machine, in one run: bare async publish and a bare
// consume-republish-ack relay (the ceilings), the resolver on realistic
// traffic (and its ratio to the relay), the HTTP ingest against a bare
// handler that stores each body with a synchronous publish, end-to-end latency
// at a fixed offered load, and the resolver's state memory per open
// operation. The resolver run verifies its own output. Each phase runs on a
// fresh embedded nats-server (file storage in a temp dir).
//
//	go run ./cmd/opsbench [-ops 20000] [-clients 32] [-duration 5s] [-rate 1000] [-runs 3]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"sort"
	"syscall"
	"time"
)

// Options size the benchmark.
type Options struct {
	Ops        int
	RaceShare  float64
	DupShare   float64
	SharedCC   float64
	Clients    int
	Duration   time.Duration
	Rate       int
	Runs       int
	Memory     bool
	CPUProfile string
}

// Result holds one run's figures.
type Result struct {
	PublishCeiling   float64 `json:"publish_ceiling_msgs_s"`
	RelayCeiling     float64 `json:"relay_ceiling_msgs_s"`
	Resolver         float64 `json:"resolver_msgs_s"`
	ResolverRatio    float64 `json:"resolver_to_relay"`
	Verified         string  `json:"verified"`
	Ingest           float64 `json:"ingest_req_s"`
	BareIngest       float64 `json:"bare_sync_ingest_req_s"`
	IngestRatio      float64 `json:"ingest_to_bare"`
	LatencyP50       float64 `json:"e2e_p50_ms"`
	LatencyP99       float64 `json:"e2e_p99_ms"`
	LatencyP999      float64 `json:"e2e_p999_ms"`
	LatencyOps       int     `json:"e2e_operations"`
	HeapPerOpenOp    float64 `json:"state_heap_bytes_per_open_op"`
	KVPerOpenOp      float64 `json:"state_kv_bytes_per_open_op"`
	MemPer100kOpenMB float64 `json:"state_heap_mb_per_100k_open_ops"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var o Options
	flag.IntVar(&o.Ops, "ops", 20000, "operations for the throughput phases (2-3 events each)")
	flag.Float64Var(&o.RaceShare, "race-share", 0.3, "share of operations whose completion arrives before the response")
	flag.Float64Var(&o.DupShare, "dup-share", 0.2, "duplicates, as a share of the events")
	flag.Float64Var(&o.SharedCC, "shared-cc-share", 0.25, "share of operations sharing a clientContext (about five per context)")
	flag.IntVar(&o.Clients, "clients", 32, "concurrent keep-alive HTTP clients for the ingest phase")
	flag.DurationVar(&o.Duration, "duration", 5*time.Second, "length of the ingest and latency phases")
	flag.IntVar(&o.Rate, "rate", 1000, "offered load of the latency phase, operations/s (two requests each)")
	flag.IntVar(&o.Runs, "runs", 1, "repeat everything and print medians")
	flag.BoolVar(&o.Memory, "memory", false, "memory storage instead of file storage")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the resolver phase")
	flag.Parse()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "opsbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o Options, out io.Writer) error {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var results []Result
	for i := 0; i < o.Runs; i++ {
		var r Result
		var err error
		fmt.Fprintf(out, "run %d/%d\n", i+1, o.Runs)
		step := func(name string, f func() error) {
			if err == nil {
				fmt.Fprintf(out, "  %-40s", name)
				start := time.Now()
				err = f()
				fmt.Fprintf(out, " done in %v\n", time.Since(start).Round(time.Millisecond))
			}
		}
		step("ceiling: bare async publish", func() (e error) { r.PublishCeiling, e = benchPublish(ctx, o); return })
		step("ceiling: bare consume-republish-ack relay", func() (e error) { r.RelayCeiling, e = benchRelay(ctx, o); return })
		step("resolver on realistic traffic", func() (e error) {
			if o.CPUProfile != "" && i == 0 {
				f, err := os.Create(o.CPUProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				_ = pprof.StartCPUProfile(f)
				defer pprof.StopCPUProfile()
			}
			r.Resolver, r.Verified, e = benchResolver(ctx, o, log)
			return
		})
		step("ingest over HTTP vs bare sync handler", func() (e error) { r.Ingest, r.BareIngest, e = benchIngest(ctx, o, log); return })
		step("end-to-end latency at fixed load", func() (e error) {
			var lat []time.Duration
			lat, e = benchLatency(ctx, o, log)
			if e == nil {
				r.LatencyP50, r.LatencyP99, r.LatencyP999, r.LatencyOps = pct(lat, 0.5), pct(lat, 0.99), pct(lat, 0.999), len(lat)
			}
			return
		})
		step("state memory per open operation", func() error {
			r.HeapPerOpenOp, r.KVPerOpenOp = benchMemory()
			r.MemPer100kOpenMB = r.HeapPerOpenOp * 100_000 / (1 << 20)
			return nil
		})
		if err != nil {
			return err
		}
		r.ResolverRatio = r.Resolver / r.RelayCeiling
		r.IngestRatio = r.Ingest / r.BareIngest
		results = append(results, r)
	}
	m := median(results)
	fmt.Fprintf(out, "\nmedians of %d run(s), %d operations, %d clients, %v phases, %d ops/s offered:\n", o.Runs, o.Ops, o.Clients, o.Duration, o.Rate)
	fmt.Fprintf(out, "  %-44s %12.0f msgs/s\n", "bare async publish (ceiling)", m.PublishCeiling)
	fmt.Fprintf(out, "  %-44s %12.0f msgs/s\n", "bare relay (ceiling)", m.RelayCeiling)
	fmt.Fprintf(out, "  %-44s %12.0f msgs/s   ratio %.2f (target ≥ 0.50)\n", "resolver, one worker", m.Resolver, m.ResolverRatio)
	fmt.Fprintf(out, "  %-44s %12.0f req/s\n", "bare handler, synchronous publish", m.BareIngest)
	fmt.Fprintf(out, "  %-44s %12.0f req/s    ratio %.2f (target ≥ 1.00)\n", "ingest (parse, validate, split, pipelined)", m.Ingest, m.IngestRatio)
	fmt.Fprintf(out, "  %-44s p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  (target p99 ≤ 10 ms)\n", "end to end, request → subscriber", m.LatencyP50, m.LatencyP99, m.LatencyP999)
	fmt.Fprintf(out, "  %-44s %.0f B heap, %.0f B KV per open operation; %.0f MB per 100k\n", "resolver state", m.HeapPerOpenOp, m.KVPerOpenOp, m.MemPer100kOpenMB)
	fmt.Fprintf(out, "  %s\n", results[0].Verified)
	b, _ := json.Marshal(m)
	fmt.Fprintf(out, "%s\n", b)
	return nil
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := min(len(s)-1, int(float64(len(s))*p))
	return float64(s[i].Microseconds()) / 1000
}

func median(rs []Result) Result {
	pick := func(f func(Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return Result{
		PublishCeiling:   pick(func(r Result) float64 { return r.PublishCeiling }),
		RelayCeiling:     pick(func(r Result) float64 { return r.RelayCeiling }),
		Resolver:         pick(func(r Result) float64 { return r.Resolver }),
		ResolverRatio:    pick(func(r Result) float64 { return r.ResolverRatio }),
		Verified:         rs[0].Verified,
		Ingest:           pick(func(r Result) float64 { return r.Ingest }),
		BareIngest:       pick(func(r Result) float64 { return r.BareIngest }),
		IngestRatio:      pick(func(r Result) float64 { return r.IngestRatio }),
		LatencyP50:       pick(func(r Result) float64 { return r.LatencyP50 }),
		LatencyP99:       pick(func(r Result) float64 { return r.LatencyP99 }),
		LatencyP999:      pick(func(r Result) float64 { return r.LatencyP999 }),
		LatencyOps:       rs[0].LatencyOps,
		HeapPerOpenOp:    pick(func(r Result) float64 { return r.HeapPerOpenOp }),
		KVPerOpenOp:      pick(func(r Result) float64 { return r.KVPerOpenOp }),
		MemPer100kOpenMB: pick(func(r Result) float64 { return r.MemPer100kOpenMB }),
	}
}
