package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/traffic"
)

// layout is one invocation of -layout processes: the shipped layout, every
// component a process of its own on one nats-server process, measured from
// this process (the load generator and the subscribers).
type layout struct {
	o    Options
	ps   *procs
	nats *proc
	b    *bench // the admin connection to the nats-server process
	prof *procProfiler
}

// runLayout builds nats-server, the ingest and the resolver, starts
// nats-server as a process, runs every layout phase o.Runs times and writes
// the report to out. Every process it started is stopped and its temporary
// directory removed before it returns.
func runLayout(ctx context.Context, o Options, out io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	ops, seq := generateTraffic(o, o.Seed)
	want, nEvents := traffic.Model(seq)
	ps, err := newProcs(o.GC, o.GCFor)
	if err != nil {
		return err
	}
	defer ps.close()
	fmt.Fprintf(out, "opsbench -layout processes: building nats-server, ingest and resolver (go build)\n")
	if err := ps.build(ctx); err != nil {
		return err
	}
	l := &layout{o: o, ps: ps, prof: &procProfiler{path: o.CPUProfile, phase: o.ProfilePhase}}
	if err := l.startNATS(ctx); err != nil {
		return err
	}
	defer l.b.admin.Close()
	fmt.Fprintf(out, "opsbench: %d CPUs, %s %s/%s, processes with %s, nats-server %s (process) at %s, %s storage, commsops %s\n",
		runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, gcName(o), serverVersion(), l.b.url,
		storageName(o), cmp.Or(revision(), "(revision unknown)"))
	fmt.Fprintf(out, "traffic: %d operations, %d messages (race %.0f%%, duplicates %.0f%%, shared clientContexts %.0f%%), %d resolved events expected\n",
		len(ops), len(seq), 100*o.RaceShare, 100*o.DupShare, 100*o.SharedCC, nEvents)

	var runs []figures
	var verdicts []verdict
	// A phase the machine's load made fail (timeouts) is reported and the
	// runs go on; a wrong output or a stop ends the benchmark.
	pr := &phaseRunner{ctx: ctx, o: o, out: out, labels: layoutLabels, children: ps.cpu, goOn: true}
	for i := range o.Runs {
		f := pr.begin(i)
		pr.step("relay", func() (string, error) {
			r, err := l.relayPhase(ctx, seq)
			if err != nil {
				return "", err
			}
			f["proc_relay_msgs_s"], f["proc_relay_cold_start_ms"] = r.rate, ms(r.cold)
			f["proc_relay_cpu_us_per_msg"], f["proc_relay_nats_cpu_us_per_msg"] = us(r.cpu), us(r.natsCPU)
			return fmt.Sprintf("%.0f msgs/s, %.1f µs CPU/msg (+%.1f nats-server)", r.rate, us(r.cpu), us(r.natsCPU)), nil
		})
		pr.step("resolver", func() (string, error) {
			r, err := l.resolverPhase(ctx, ops, seq, want, nEvents)
			if err != nil {
				return "", err
			}
			verdicts = append(verdicts, r.verdict)
			f["proc_resolver_msgs_s"], f["proc_resolver_cold_start_ms"] = r.rate, ms(r.cold)
			f["proc_resolver_restart_ms"] = ms(r.restart)
			f["proc_resolver_cpu_us_per_msg"], f["proc_resolver_nats_cpu_us_per_msg"] = us(r.cpu), us(r.natsCPU)
			s := fmt.Sprintf("%.0f msgs/s, first event %.0f ms after start (restart %.0f ms)", r.rate, ms(r.cold), ms(r.restart))
			if relay, ok := f["proc_relay_msgs_s"]; ok {
				f["proc_resolver_to_relay"] = r.rate / relay
				f["proc_resolver_to_relay_cpu"] = f["proc_relay_cpu_us_per_msg"] / f["proc_resolver_cpu_us_per_msg"]
				s = fmt.Sprintf("%.0f msgs/s (%.2f of relay), first event %.0f ms after start (restart %.0f ms)", r.rate, f["proc_resolver_to_relay"], ms(r.cold), ms(r.restart))
			}
			return s + "; " + r.verdict.String(), nil
		})
		pr.step("ingest", func() (string, error) {
			rs, err := l.ingestPhase(ctx, i)
			if err != nil {
				return "", err
			}
			for _, r := range rs {
				f["proc_"+r.name+"_req_s"] = r.rate
				f["proc_"+r.name+"_cpu_us_per_req"] = us(r.cpu)
				f["proc_"+r.name+"_nats_cpu_us_per_req"] = us(r.natsCPU)
			}
			f["proc_ingest_to_bare"] = f["proc_ingest_req_s"] / f["proc_bare_req_s"]
			f["proc_ingest_to_bare_cpu"] = f["proc_bare_cpu_us_per_req"] / f["proc_ingest_cpu_us_per_req"]
			f["proc_shaped_to_bare"] = f["proc_shaped_req_s"] / f["proc_bare_req_s"]
			f["proc_ingest_to_shaped"] = f["proc_ingest_req_s"] / f["proc_shaped_req_s"]
			return fmt.Sprintf("%.0f vs %.0f req/s (%.2f; shaped %.0f); %.0f vs %.0f µs CPU/req", f["proc_ingest_req_s"], f["proc_bare_req_s"],
				f["proc_ingest_to_bare"], f["proc_shaped_req_s"], f["proc_ingest_cpu_us_per_req"], f["proc_bare_cpu_us_per_req"]), nil
		})
		pr.step("latency", func() (string, error) {
			r, err := l.latencyPhase(ctx, i)
			if err != nil {
				return "", err
			}
			f["proc_e2e_p50_ms"] = percentile(r.events, 0.50)
			f["proc_e2e_p99_ms"] = percentile(r.events, 0.99)
			f["proc_e2e_p999_ms"] = percentile(r.events, 0.999)
			f["proc_e2e_max_ms"] = percentile(r.events, 1)
			f["proc_e2e_http_p50_ms"] = percentile(r.http, 0.50)
			f["proc_e2e_http_p99_ms"] = percentile(r.http, 0.99)
			f["proc_e2e_offered_ops_s"] = r.offered
			f["proc_e2e_cores_nats"] = r.cores.nats
			f["proc_e2e_cores_resolver"] = r.cores.resolver
			f["proc_e2e_cores_ingest"] = r.cores.ingest
			f["proc_e2e_cores_opsbench"] = r.cores.opsbench
			return fmt.Sprintf("p50 %.2f p99 %.2f p99.9 %.2f ms at %.0f ops/s; POST→202 p50 %.2f p99 %.2f; cores: nats-server %.2f, resolver %.2f, ingest %.2f, opsbench %.2f",
				f["proc_e2e_p50_ms"], f["proc_e2e_p99_ms"], f["proc_e2e_p999_ms"], r.offered, f["proc_e2e_http_p50_ms"], f["proc_e2e_http_p99_ms"],
				r.cores.nats, r.cores.resolver, r.cores.ingest, r.cores.opsbench), nil
		})
		pr.step("failover", func() (string, error) {
			r, err := l.failoverPhase(ctx, i)
			if err != nil {
				return "", err
			}
			f["proc_failover_gap_ms"] = ms(r.gap)
			f["proc_failover_pin_ms"] = ms(r.pinMoved)
			f["proc_failover_inflight_ms"] = ms(r.inFlight)
			f["proc_failover_inflight_ops"] = float64(r.inFlightOps)
			return fmt.Sprintf("partition %d: events again %.0f ms after kill -9 of its owner (pin moved after %.0f ms); "+
				"the last of %d operations accepted before the kill completed %.0f ms after it",
				r.partition, ms(r.gap), ms(r.pinMoved), r.inFlightOps, ms(r.inFlight)), nil
		})
		if pr.err != nil {
			return pr.err
		}
		runs = append(runs, f)
	}
	report(out, o, layoutFigDefs, runs, verdicts, pr.noisy, len(seq), nEvents)
	if len(pr.failures) > 0 {
		return fmt.Errorf("%d phase(s) failed: %s", len(pr.failures), strings.Join(pr.failures, "; "))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// startNATS starts nats-server on a free loopback port with JetStream in the
// temporary directory, and connects the admin connection once it accepts.
func (l *layout) startNATS(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	host, port, _ := strings.Cut(addr, ":")
	profArgs, err := l.prof.natsArgs()
	if err != nil {
		return err
	}
	l.nats, err = l.ps.start("nats-server", l.ps.bin("nats-server"),
		append([]string{"-a", host, "-p", port, "-js", "-sd", filepath.Join(l.ps.dir, "jetstream"), "-n", "opsbench"}, profArgs...), nil)
	if err != nil {
		return err
	}
	l.b = &bench{o: l.o, url: "nats://" + addr}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if l.b.admin, l.b.ajs, err = l.b.connect("opsbench-admin"); err == nil {
			return nil
		}
		if !l.nats.alive() || time.Now().After(deadline) {
			return l.nats.failed("did not accept connections")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// arrivals counts the messages a core subscription receives, with the
// arrival times of the first and the last.
type arrivals struct {
	n, first, last atomic.Int64 // first, last: unix nanos
}

// subscribe counts the messages published on subject, from now on, on a
// connection of its own; stop ends it.
func (l *layout) subscribe(subject string) (a *arrivals, stop func(), err error) {
	nc, err := nats.Connect(l.b.url, nats.Name("opsbench-subscriber"))
	if err != nil {
		return nil, nil, err
	}
	a = &arrivals{}
	sub, err := nc.Subscribe(subject, func(*nats.Msg) {
		now := time.Now().UnixNano()
		a.first.CompareAndSwap(0, now)
		a.last.Store(now)
		a.n.Add(1)
	})
	if err == nil {
		err = sub.SetPendingLimits(-1, -1)
	}
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return a, nc.Close, nil
}

// wait waits until want messages arrived, p exits or limit passes.
func (a *arrivals) wait(ctx context.Context, want int, p *proc, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for a.n.Load() < int64(want) {
		if !p.alive() {
			return p.failed(fmt.Sprintf("exited after %d of %d messages", a.n.Load(), want))
		}
		if time.Now().After(deadline) {
			return p.failed(fmt.Sprintf("delivered %d of %d messages in %v", a.n.Load(), want, limit))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// span returns the time from the first arrival to the last.
func (a *arrivals) span() time.Duration { return time.Duration(a.last.Load() - a.first.Load()) }

func (a *arrivals) firstAt() time.Time { return time.Unix(0, a.first.Load()) }

var layoutLabels = map[string]string{
	"relay":    "ceiling: bare relay (process)",
	"resolver": "resolver (process) on the backlog",
	"ingest":   "ingest vs bare handler (processes)",
	"latency":  "end-to-end latency (processes)",
	"failover": "failover: kill -9 of an owner",
}

var layoutFigDefs = []figDef{
	{key: "proc_relay_msgs_s", label: "ceiling: bare relay process, first→last", unit: "msgs/s"},
	{key: "proc_relay_cpu_us_per_msg", label: "  CPU per message, relay process", unit: "µs", prec: 1},
	{key: "proc_relay_nats_cpu_us_per_msg", label: "  CPU per message, nats-server", unit: "µs", prec: 1},
	{key: "proc_resolver_restart_ms", label: "  same, restart over its consumers", unit: "ms", prec: 0},
	{key: "proc_relay_cold_start_ms", label: "  process start → first relayed", unit: "ms", prec: 0},
	{key: "proc_resolver_msgs_s", label: "resolver process, first→last event", unit: "msgs/s"},
	{key: "proc_resolver_cpu_us_per_msg", label: "  CPU per input message, resolver", unit: "µs", prec: 1},
	{key: "proc_resolver_nats_cpu_us_per_msg", label: "  CPU per input message, nats-server", unit: "µs", prec: 1},
	{key: "proc_resolver_to_relay", label: "  resolver / relay", unit: "ratio", prec: 2, target: "≥ 0.50",
		met: func(v float64) bool { return v >= 0.5 }},
	{key: "proc_resolver_to_relay_cpu", label: "  same by CPU per message", unit: "ratio", prec: 2},
	{key: "proc_resolver_cold_start_ms", label: "resolver start → first event (backlog)", unit: "ms", prec: 0, target: "≤ 300 ms",
		met: func(v float64) bool { return v <= 300 }},
	{key: "proc_ingest_req_s", label: "ingest process, HTTP", unit: "req/s"},
	{key: "proc_ingest_cpu_us_per_req", label: "  CPU per request, ingest process", unit: "µs", prec: 1},
	{key: "proc_ingest_nats_cpu_us_per_req", label: "  CPU per request, nats-server", unit: "µs", prec: 1},
	{key: "proc_bare_req_s", label: "bare handler process, HTTP", unit: "req/s"},
	{key: "proc_bare_cpu_us_per_req", label: "  CPU per request, handler process", unit: "µs", prec: 1},
	{key: "proc_bare_nats_cpu_us_per_req", label: "  CPU per request, nats-server", unit: "µs", prec: 1},
	{key: "proc_ingest_to_bare", label: "  ingest / bare", unit: "ratio", prec: 2, target: "≥ 0.90",
		met: func(v float64) bool { return v >= 0.9 }},
	{key: "proc_ingest_to_bare_cpu", label: "  same by CPU per request", unit: "ratio", prec: 2},
	{key: "proc_shaped_req_s", label: "shaped handler process, HTTP", unit: "req/s"},
	{key: "proc_shaped_cpu_us_per_req", label: "  CPU per request, handler process", unit: "µs", prec: 1},
	{key: "proc_shaped_nats_cpu_us_per_req", label: "  CPU per request, nats-server", unit: "µs", prec: 1},
	{key: "proc_shaped_to_bare", label: "  shaped / bare", unit: "ratio", prec: 2},
	{key: "proc_ingest_to_shaped", label: "  ingest / shaped", unit: "ratio", prec: 2},
	{key: "proc_e2e_offered_ops_s", label: "e2e offered load (achieved)", unit: "ops/s"},
	{key: "proc_e2e_p50_ms", label: "e2e request → subscriber p50", unit: "ms", prec: 2},
	{key: "proc_e2e_p99_ms", label: "e2e request → subscriber p99", unit: "ms", prec: 2, target: "≤ 10 ms",
		met: func(v float64) bool { return v <= 10 }},
	{key: "proc_e2e_p999_ms", label: "e2e request → subscriber p99.9", unit: "ms", prec: 2},
	{key: "proc_e2e_max_ms", label: "e2e request → subscriber max", unit: "ms", prec: 2},
	{key: "proc_e2e_http_p50_ms", label: "  POST → 202, p50", unit: "ms", prec: 2},
	{key: "proc_e2e_http_p99_ms", label: "  POST → 202, p99", unit: "ms", prec: 2, target: "≤ 5 ms",
		met: func(v float64) bool { return v <= 5 }},
	{key: "proc_e2e_cores_nats", label: "  cores busy under the load: nats-server", unit: "cores", prec: 2},
	{key: "proc_e2e_cores_resolver", label: "  cores busy under the load: resolver", unit: "cores", prec: 2},
	{key: "proc_e2e_cores_ingest", label: "  cores busy under the load: ingest", unit: "cores", prec: 2},
	{key: "proc_e2e_cores_opsbench", label: "  cores busy under the load: opsbench", unit: "cores", prec: 2},
	{key: "proc_failover_gap_ms", label: "failover: kill -9 → partition flows", unit: "ms", prec: 0, target: "≤ 1000 ms",
		met: func(v float64) bool { return v <= 1000 }},
	{key: "proc_failover_pin_ms", label: "  kill -9 → partition pinned anew", unit: "ms", prec: 0},
	{key: "proc_failover_inflight_ms", label: "  kill -9 → last op from before it done", unit: "ms", prec: 0},
	{key: "proc_failover_inflight_ops", label: "  ops from before it, done after it", unit: "ops", prec: 0},
	{key: "cpu_other_cores_relay", label: "noise: other processes, relay phase", unit: "cores", prec: 2},
	{key: "cpu_other_cores_resolver", label: "noise: other processes, resolver phase", unit: "cores", prec: 2},
	{key: "cpu_other_cores_ingest", label: "noise: other processes, ingest phase", unit: "cores", prec: 2},
	{key: "cpu_other_cores_latency", label: "noise: other processes, latency phase", unit: "cores", prec: 2},
	{key: "cpu_other_cores_failover", label: "noise: other processes, failover phase", unit: "cores", prec: 2},
}
