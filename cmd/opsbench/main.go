// Command opsbench measures commsops against the bare JetStream ceilings of
// the same machine, in one process on one embedded nats-server (listening on
// 127.0.0.1, a random port; file storage in a temporary directory, or memory
// with -memory):
//
//  1. ceilings: bare async publish of messages shaped like COMMS_IN events,
//     and a bare consume → republish (async) → ack-after-publish-ack relay;
//  2. one resolver worker draining preloaded traffic (races, duplicates,
//     shared clientContexts), and its ratio to the relay ceiling;
//  3. the real HTTP ingest against a bare handler that stores each body with a
//     synchronous publish, under the same concurrent keep-alive load;
//  4. end-to-end latency, HTTP request start → resolved event at a
//     subscriber, at a fixed offered load;
//  5. the resolver's heap per 100k open operations;
//  6. self-verification of the resolver's output against the contract's model.
//
// Every phase starts from empty streams. -runs K repeats the phases and prints
// medians with min and max; the output is a table and a final JSON line.
//
//	go run ./cmd/opsbench [-runs 3] [-ops 20000] [-clients 32] [-duration 5s] [-rate 1000] [-open-ops 20000]
//
// -layout processes measures the shipped layout instead (layout.go): it
// builds nats-server and the ingest and resolver binaries, and runs each as a
// process of its own, the ceilings too, with Go's default GC unless -gc says
// otherwise; its phases are relay, resolver (with its cold start on a waiting
// backlog), ingest, latency and failover (kill -9 of a partition's owner).
//
//	go run ./cmd/opsbench -layout processes [-runs 3] [-gc 'GOGC=off GOMEMLIMIT=1GiB']
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/commsops/commsops/internal/traffic"
)

// Options size the benchmark.
type Options struct {
	Ops        int     // operations of the throughput phases (2-3 events each)
	RaceShare  float64 // share of operations whose completion comes before the response
	DupShare   float64 // duplicates, as a share of the events
	SharedCC   float64 // share of operations on a shared clientContext (about five per context)
	Seed       uint64
	Partitions int // COMMS_IN partitions

	Clients   int           // concurrent keep-alive HTTP clients of the ingest phase
	Duration  time.Duration // measured length of the ingest and latency phases
	Warmup    time.Duration // unmeasured start of those phases; <0: none; 0: min(1s, Duration/5)
	Rate      int           // operations per second offered in the latency phase (2 requests each)
	OpenOps   int           // open operations loaded in the memory phase
	Awaits    int           // awaits pending at once in the await phase (released at Rate per second)
	LongPolls int           // blocking queries open at once in the api phase
	Streams   int           // event streams open at once in the api phase
	// CommitDelay is the resolver's Config.CommitDelay in every phase.
	CommitDelay time.Duration

	Runs         int
	Phases       string // comma-separated subset of the phases; "" or "all": every one
	Memory       bool   // memory storage instead of file storage
	CPUProfile   string
	AllocProfile string // allocations of the profiled phase: writes file.base and file
	ProfilePhase string // which phase the CPU and allocation profiles cover
	MemProfile   string
	Verbose      bool
	// Layout: "" or "in-process" (one process, an embedded server), or
	// "processes": the shipped layout, every component a process (layout.go).
	Layout string
	// GC is the GOGC=... GOMEMLIMIT=... settings of the processes of the
	// layout mode that GCFor names; "": Go's defaults.
	GC string
	// GCFor is a comma-separated list of process name prefixes (nats-server,
	// ingest, resolver, relay, bare, shaped) that get GC; "": all of them.
	GCFor string
	// WaitQuiet: before each phase, wait up to this long until other
	// processes leave the machine idle (under noisyCores for a second).
	WaitQuiet time.Duration
}

func (o Options) warmup() time.Duration {
	switch {
	case o.Warmup < 0:
		return 0
	case o.Warmup > 0:
		return o.Warmup
	}
	return min(time.Second, o.Duration/5)
}

func defaultOptions() Options {
	return Options{Ops: 20000, RaceShare: 0.3, DupShare: 0.2, SharedCC: 0.25, Seed: 1, Partitions: 16,
		Clients: 32, Duration: 4 * time.Second, Rate: 1000, OpenOps: 20000, Awaits: 10000, LongPolls: 2000, Streams: 500, Runs: 3, ProfilePhase: "resolver",
		CommitDelay: 500 * time.Millisecond} // the resolver's default
}

func main() {
	if mode := os.Getenv(serveEnv); mode != "" {
		os.Exit(serveMain(mode))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o := defaultOptions()
	flag.IntVar(&o.Ops, "ops", o.Ops, "operations in the resolver and ceiling phases (2-3 events each, plus duplicates)")
	flag.Float64Var(&o.RaceShare, "race-share", o.RaceShare, "share of operations whose completion arrives before the action response")
	flag.Float64Var(&o.DupShare, "dup-share", o.DupShare, "duplicates re-sent later with a new etag, as a share of the events")
	flag.Float64Var(&o.SharedCC, "shared-cc-share", o.SharedCC, "share of operations on a shared clientContext (about five per context)")
	flag.Uint64Var(&o.Seed, "seed", o.Seed, "traffic generator seed (the same traffic in every run)")
	flag.IntVar(&o.Partitions, "partitions", o.Partitions, "COMMS_IN partitions")
	flag.IntVar(&o.Clients, "clients", o.Clients, "concurrent keep-alive HTTP clients in the ingest phase")
	flag.Var((*seconds)(&o.Duration), "duration", "measured length of the ingest and latency phases (seconds, or a Go duration)")
	flag.Var((*seconds)(&o.Warmup), "warmup", "unmeasured warm-up before the ingest and latency phases (default min(1s, duration/5); negative: none)")
	flag.IntVar(&o.Rate, "rate", o.Rate, "offered load of the latency phase, operations/s (each: action response + completion notification)")
	flag.IntVar(&o.OpenOps, "open-ops", o.OpenOps, "open operations loaded through the worker in the memory phase (result scaled to 100k)")
	flag.IntVar(&o.Awaits, "awaits", o.Awaits, "awaits pending at once on one events.Operations in the await phase, then released at -rate per second")
	flag.IntVar(&o.LongPolls, "long-polls", o.LongPolls, "blocking queries open at once on the operations API in the api phase")
	flag.IntVar(&o.Streams, "streams", o.Streams, "event streams open at once on the operations API in the api phase")
	flag.Var((*seconds)(&o.CommitDelay), "commit-delay", "the resolver's RESOLVER_COMMIT_DELAY (seconds, or a Go duration; default as shipped)")
	flag.IntVar(&o.Runs, "runs", o.Runs, "repeat every phase K times and print medians, min and max")
	flag.StringVar(&o.Phases, "phases", "all", "comma-separated phases to run: publish, relay, resolver, ingest, latency, memory, await, api (ratios need both of theirs)")
	flag.BoolVar(&o.Memory, "memory", o.Memory, "JetStream memory storage instead of file storage")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of one phase of the first run to `file` (with -layout processes: of the resolver process in the resolver and latency phases, the ingest process in the ingest phase; nats-server's to file.nats-server)")
	flag.StringVar(&o.AllocProfile, "allocprofile", "", "write the allocation profile at the start (`file`.base) and the end (file) of one phase of the first run, each after a forced GC; read with go tool pprof -sample_index=alloc_space -base file.base")
	flag.StringVar(&o.ProfilePhase, "profile-phase", o.ProfilePhase, "phase the CPU and allocation profiles cover: publish, relay, resolver, ingest, bare, shaped, latency, memory or all")
	flag.StringVar(&o.MemProfile, "memprofile", "", "write a heap profile to `file` while the worker holds the open operations (first run)")
	flag.BoolVar(&o.Verbose, "v", false, "log the components' warnings and errors to stderr")
	flag.Var((*seconds)(&o.WaitQuiet), "wait-quiet", "before each phase wait up to this long for other processes to leave the CPUs idle (0: do not wait)")
	flag.StringVar(&o.Layout, "layout", "in-process", "in-process: every component in this process on an embedded server; processes: nats-server, ingest, resolver and the ceilings as separate processes (phases relay, resolver, ingest, latency, failover)")
	flag.StringVar(&o.GC, "gc", "", "with -layout processes: GC settings for every process, e.g. 'GOGC=off GOMEMLIMIT=1GiB' (default: Go's)")
	flag.StringVar(&o.GCFor, "gc-for", "", "with -gc: only the processes whose names start with one of these comma-separated prefixes: nats-server, ingest, resolver, relay, bare, shaped (default: all)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "opsbench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	runFn := run
	if o.Layout == "processes" {
		runFn = func(ctx context.Context, o Options, out, _ io.Writer) error { return runLayout(ctx, o, out) }
	}
	if err := runFn(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "opsbench: FAILED:", err)
		os.Exit(1)
	}
}

// seconds is a duration flag that also takes a plain number of seconds.
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }

func (s *seconds) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		*s = seconds(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	*s = seconds(d)
	return err
}

func (o Options) validate() error {
	switch {
	case o.Ops < 1 || o.Runs < 1 || o.Clients < 1 || o.Rate < 1 || o.OpenOps < 1 || o.Partitions < 1 || o.Awaits < 1 || o.LongPolls < 0 || o.Streams < 0:
		return errors.New("-ops, -runs, -clients, -rate, -open-ops, -awaits and -partitions must be positive, -long-polls and -streams not negative")
	case o.Duration <= 0:
		return errors.New("-duration must be positive")
	case o.RaceShare < 0 || o.RaceShare > 1 || o.SharedCC < 0 || o.SharedCC > 1 || o.DupShare < 0 || o.DupShare > 1:
		return errors.New("-race-share, -dup-share and -shared-cc-share are shares between 0 and 1")
	}
	for _, p := range strings.Split(o.Phases, ",") {
		switch strings.TrimSpace(p) {
		case "", "all", "publish", "relay", "resolver", "ingest", "latency", "memory", "await", "api", "failover":
		default:
			return fmt.Errorf("-phases: %q is not a phase", p)
		}
	}
	switch o.Layout {
	case "", "in-process", "processes":
	default:
		return fmt.Errorf("-layout %q: in-process or processes", o.Layout)
	}
	for _, kv := range strings.Fields(o.GC) {
		if k, _, _ := strings.Cut(kv, "="); k != "GOGC" && k != "GOMEMLIMIT" && k != "GODEBUG" {
			return fmt.Errorf("-gc %q: only GOGC=, GOMEMLIMIT= and GODEBUG= settings", kv)
		}
	}
	if o.Layout == "processes" && (o.CPUProfile != "" && o.ProfilePhase != "resolver" && o.ProfilePhase != "ingest" && o.ProfilePhase != "latency" || o.AllocProfile != "" || o.MemProfile != "") {
		return errors.New("-layout processes: only -cpuprofile, with -profile-phase resolver, ingest or latency")
	}
	switch o.ProfilePhase {
	case "publish", "relay", "resolver", "ingest", "bare", "shaped", "latency", "memory", "await", "api", "all":
	default:
		return fmt.Errorf("-profile-phase %q is not a phase", o.ProfilePhase)
	}
	return nil
}

// run runs every phase o.Runs times on one embedded server, writing progress
// and the report to out and the components' logs (with -v) to logw.
func run(ctx context.Context, o Options, out, logw io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if o.Verbose {
		log = slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ops, seq := generateTraffic(o, o.Seed)
	// Each piece of evidence is one stored event. The phases that need the
	// events render them themselves, so that no phase carries them on its heap.
	nMsgs := len(seq)
	_, nEvents := traffic.Model(seq)
	b, err := startServer(o)
	if err != nil {
		return err
	}
	defer b.close()
	b.profile = &profiler{path: o.CPUProfile, allocPath: o.AllocProfile, phase: o.ProfilePhase}
	defer b.profile.finish()

	fmt.Fprintf(out, "opsbench: %d CPUs (GOMAXPROCS %d), %s %s/%s, %s, nats-server %s embedded at %s, %s storage, commsops %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, gcSettings(), serverVersion(), b.url, storageName(o),
		cmp.Or(revision(), "(revision unknown)"))
	fmt.Fprintf(out, "traffic: %d operations, %d messages (race %.0f%%, duplicates %.0f%%, shared clientContexts %.0f%%), %d resolved events expected\n",
		len(ops), nMsgs, 100*o.RaceShare, 100*o.DupShare, 100*o.SharedCC, nEvents)

	var runs []figures
	var verdicts []verdict
	pr := &phaseRunner{ctx: ctx, o: o, out: out, labels: phaseLabels, ownFigures: true, sayWaited: true}
	for i := range o.Runs {
		f := pr.begin(i)
		pr.step("publish", func() (string, error) {
			v, cpu, err := benchPublish(ctx, b, seq)
			f["publish_msgs_s"], f["publish_cpu_us_per_msg"] = v, us(cpu)
			return fmt.Sprintf("%.0f msgs/s, %.1f µs CPU/msg", v, us(cpu)), err
		})
		pr.step("relay", func() (string, error) {
			v, cpu, err := benchRelay(ctx, b, seq)
			f["relay_msgs_s"], f["relay_cpu_us_per_msg"] = v, us(cpu)
			return fmt.Sprintf("%.0f msgs/s, %.1f µs CPU/msg", v, us(cpu)), err
		})
		pr.step("resolver", func() (string, error) {
			r, err := benchResolver(ctx, b, ops, seq, log)
			if err != nil {
				return "", err
			}
			f["resolver_msgs_s"] = r.msgsPerSec
			f["resolver_drained_msgs_s"] = r.drainedRate
			f["resolver_cpu_us_per_msg"] = us(r.cpuPerMsg)
			f["resolver_stores_per_msg"] = r.storesPerMsg
			f["resolver_kv_writes_per_msg"] = r.kvPerMsg
			f["resolver_events_per_msg"] = r.eventsPerMsg
			f["resolver_schedules_per_msg"] = r.schedPerMsg
			verdicts = append(verdicts, r.verdict)
			if relay, ok := f["relay_msgs_s"]; ok {
				f["resolver_to_relay"] = r.msgsPerSec / relay
				f["resolver_to_relay_cpu"] = f["relay_cpu_us_per_msg"] / f["resolver_cpu_us_per_msg"]
				return fmt.Sprintf("%.0f msgs/s (%.2f of relay), %.1f µs CPU/msg; %s", r.msgsPerSec, f["resolver_to_relay"], us(r.cpuPerMsg), r.verdict), nil
			}
			return fmt.Sprintf("%.0f msgs/s, %.1f µs CPU/msg; %s", r.msgsPerSec, us(r.cpuPerMsg), r.verdict), nil
		})
		pr.step("ingest", func() (string, error) {
			real, bare, shaped, err := benchIngest(ctx, b, i, log)
			if err != nil {
				return "", err
			}
			f["ingest_req_s"], f["bare_req_s"], f["shaped_req_s"] = real.rate, bare.rate, shaped.rate
			f["ingest_cpu_us_per_req"], f["bare_cpu_us_per_req"] = us(real.cpuPerReq), us(bare.cpuPerReq)
			f["shaped_cpu_us_per_req"] = us(shaped.cpuPerReq)
			f["ingest_to_bare"] = real.rate / bare.rate
			f["ingest_to_bare_cpu"] = f["bare_cpu_us_per_req"] / f["ingest_cpu_us_per_req"]
			f["shaped_to_bare"] = shaped.rate / bare.rate
			f["ingest_to_shaped"] = real.rate / shaped.rate
			return fmt.Sprintf("%.0f vs %.0f req/s (%.2f; shaped %.0f); %.0f vs %.0f µs CPU/req", real.rate, bare.rate, f["ingest_to_bare"],
				shaped.rate, us(real.cpuPerReq), us(bare.cpuPerReq)), nil
		})
		pr.step("latency", func() (string, error) {
			r, err := benchLatency(ctx, b, i, log)
			if err != nil {
				return "", err
			}
			f["e2e_p50_ms"] = percentile(r.events, 0.50)
			f["e2e_p99_ms"] = percentile(r.events, 0.99)
			f["e2e_p999_ms"] = percentile(r.events, 0.999)
			f["e2e_max_ms"] = percentile(r.events, 1)
			f["e2e_completed_p99_ms"] = percentile(r.completed, 0.99)
			f["e2e_operation_p50_ms"] = percentile(r.operation, 0.50)
			f["e2e_operation_p99_ms"] = percentile(r.operation, 0.99)
			f["e2e_http_p50_ms"] = percentile(r.http, 0.50)
			f["e2e_http_p99_ms"] = percentile(r.http, 0.99)
			f["e2e_offered_ops_s"] = r.offered
			f["e2e_measured_ops"] = float64(r.ops)
			return fmt.Sprintf("p50 %.2f p99 %.2f p99.9 %.2f ms at %.0f ops/s", f["e2e_p50_ms"], f["e2e_p99_ms"], f["e2e_p999_ms"], r.offered), nil
		})
		pr.step("memory", func() (string, error) {
			mp := ""
			if i == 0 {
				mp = o.MemProfile
			}
			r, err := benchMemory(ctx, b, i, mp, log)
			if err != nil {
				return "", err
			}
			f["mem_process_mib_per_100k"] = r.processMB
			f["mem_resolver_mib_per_100k"] = r.resolverMB
			f["mem_released_mib_per_100k"] = r.releasedMB
			f["mem_peak_mib_per_100k"] = r.peakMB
			f["kv_bytes_per_open_op"] = r.kvBytes
			return fmt.Sprintf("heap %.1f MiB, resolver's %.1f MiB, KV %.0f B/op", r.processMB, r.resolverMB, r.kvBytes), nil
		})
		pr.step("await", func() (string, error) {
			r, err := benchAwait(ctx, b, i)
			if err != nil {
				return "", err
			}
			f["await_p50_ms"] = percentile(r.latency, 0.50)
			f["await_p99_ms"] = percentile(r.latency, 0.99)
			f["await_p999_ms"] = percentile(r.latency, 0.999)
			f["await_offered_s"] = r.offered
			f["await_heap_bytes"] = r.heapPerAwait
			f["await_stack_bytes"] = r.stackPerAwait
			f["await_consumers"] = float64(r.consumers)
			return fmt.Sprintf("%d awaits: p50 %.2f p99 %.2f ms at %.0f/s; %.0f B heap + %.0f B stack each; %d consumer(s)",
				r.n, f["await_p50_ms"], f["await_p99_ms"], r.offered, r.heapPerAwait, r.stackPerAwait, r.consumers), nil
		})
		pr.step("api", func() (string, error) {
			r, err := benchAPI(ctx, b, i)
			if err != nil {
				return "", err
			}
			f["api_bytes_per_conn"] = r.bytesPerConn
			f["api_consumers"] = float64(r.consumers)
			return fmt.Sprintf("%d long-polls + %d streams: %.1f KiB each (server and client); %d consumer(s); all answered",
				r.polls, r.streams, r.bytesPerConn/1024, r.consumers), nil
		})
		if i == 0 {
			b.profile.finish()
		}
		if pr.err != nil {
			return pr.err
		}
		runs = append(runs, f)
	}
	report(out, o, figDefs, runs, verdicts, pr.noisy, nMsgs, nEvents)
	return nil
}

// noisyCores is how much CPU other processes may take during a phase before
// its figures are flagged.
const noisyCores = 0.25

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// profiler writes the CPU profile of one phase of the first run, and the
// allocation profile at its start and end.
type profiler struct {
	path, allocPath, phase string
	f                      *os.File
	started, done          bool
}

func (p *profiler) start(phase string) {
	if p == nil || (p.path == "" && p.allocPath == "") || p.done || p.started || (p.phase != "all" && p.phase != phase) {
		return
	}
	p.started = true
	p.writeAllocs(p.allocPath + ".base")
	if p.path == "" {
		return
	}
	f, err := os.Create(p.path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbench: cpuprofile:", err)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "opsbench: cpuprofile:", err)
		f.Close()
		return
	}
	p.f = f
}

func (p *profiler) stop(phase string) {
	if p == nil || !p.started || p.phase == "all" || p.phase != phase {
		return
	}
	p.finish()
}

func (p *profiler) finish() {
	if p == nil || !p.started || p.done {
		return
	}
	p.done = true
	if p.f != nil {
		pprof.StopCPUProfile()
		p.f.Close()
		p.f = nil
	}
	p.writeAllocs(p.allocPath)
}

// writeAllocs writes the allocation profile to path (nothing when no
// allocation profile was asked for).
func (p *profiler) writeAllocs(path string) {
	if p.allocPath == "" {
		return
	}
	runtime.GC() // the profile shows allocations up to the last GC
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "opsbench: allocprofile:", err)
	}
}

var phaseLabels = map[string]string{
	"publish":  "ceiling: bare async publish",
	"relay":    "ceiling: bare relay",
	"resolver": "resolver, one worker",
	"ingest":   "ingest vs bare handler (HTTP)",
	"latency":  "end-to-end latency",
	"await":    "bot awaits (events.Operations)",
	"api":      "operations API (HTTP)",
	"memory":   "memory per 100k open operations",
}

// runs reports whether the phase is selected by -phases.
func (o Options) runs(phase string) bool {
	if o.Phases == "" || o.Phases == "all" {
		return true
	}
	for _, p := range strings.Split(o.Phases, ",") {
		if strings.TrimSpace(p) == phase {
			return true
		}
	}
	return false
}

// gcSettings describes the garbage collector's settings in force (from GOGC
// and GOMEMLIMIT), which the latency figures depend on.
func gcSettings() string {
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(samples)
	gogc := "off" // reported as -1 in the metric's uint64
	if p := samples[0].Value.Uint64(); p <= math.MaxInt32 {
		gogc = strconv.FormatUint(p, 10)
	}
	limit := "none"
	if l := samples[1].Value.Uint64(); l != math.MaxInt64 {
		limit = strconv.FormatUint(l>>20, 10) + " MiB"
	}
	return "GOGC " + gogc + ", GOMEMLIMIT " + limit
}

func storageName(o Options) string {
	if o.Memory {
		return "memory"
	}
	return "file"
}
