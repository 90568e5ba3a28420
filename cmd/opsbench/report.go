package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// figures are one run's measurements by key.
type figures map[string]float64

// figDef describes a figure in the table: its label, unit, precision and,
// for the figures with a target, the target and whether a value meets it.
type figDef struct {
	key, label, unit string
	prec             int
	target           string
	met              func(float64) bool
}

var figDefs = []figDef{
	{key: "publish_msgs_s", label: "ceiling: bare async publish", unit: "msgs/s"},
	{key: "publish_cpu_us_per_msg", label: "  CPU per message (whole process)", unit: "µs", prec: 1},
	{key: "relay_msgs_s", label: "ceiling: bare relay (consume→publish→ack)", unit: "msgs/s"},
	{key: "relay_cpu_us_per_msg", label: "  CPU per message (whole process)", unit: "µs", prec: 1},
	{key: "resolver_msgs_s", label: "resolver, one worker (input)", unit: "msgs/s"},
	{key: "resolver_drained_msgs_s", label: "  same, until every input is acked", unit: "msgs/s"},
	{key: "resolver_cpu_us_per_msg", label: "  CPU per input message (whole process)", unit: "µs", prec: 1},
	{key: "resolver_stores_per_msg", label: "  JetStream writes per input message", unit: "writes", prec: 2},
	{key: "resolver_kv_writes_per_msg", label: "    state writes (KV CAS)", unit: "writes", prec: 2},
	{key: "resolver_events_per_msg", label: "    resolved events", unit: "writes", prec: 2},
	{key: "resolver_schedules_per_msg", label: "    stall schedules", unit: "writes", prec: 2},
	{key: "resolver_to_relay", label: "  resolver / relay ceiling", unit: "ratio", prec: 2, target: "≥ 0.50",
		met: func(v float64) bool { return v >= 0.5 }},
	{key: "resolver_to_relay_cpu", label: "  same by CPU per message (noise-robust)", unit: "ratio", prec: 2},
	{key: "ingest_req_s", label: "ingest (real handler), HTTP", unit: "req/s"},
	{key: "ingest_cpu_us_per_req", label: "  CPU per request (whole process)", unit: "µs", prec: 1},
	{key: "bare_req_s", label: "bare handler, sync js.Publish, HTTP", unit: "req/s"},
	{key: "bare_cpu_us_per_req", label: "  CPU per request (whole process)", unit: "µs", prec: 1},
	{key: "ingest_to_bare", label: "  ingest / bare", unit: "ratio", prec: 2, target: "≥ 1.00",
		met: func(v float64) bool { return v >= 1 }},
	{key: "ingest_to_bare_cpu", label: "  same by CPU per request (noise-robust)", unit: "ratio", prec: 2},
	{key: "shaped_req_s", label: "shaped handler: bare, storing the contract's event", unit: "req/s"},
	{key: "shaped_cpu_us_per_req", label: "  CPU per request (whole process)", unit: "µs", prec: 1},
	{key: "shaped_to_bare", label: "  shaped / bare (the contract's storage cost)", unit: "ratio", prec: 2},
	{key: "ingest_to_shaped", label: "  ingest / shaped (the ingest's own work)", unit: "ratio", prec: 2},
	{key: "e2e_offered_ops_s", label: "e2e offered load (achieved)", unit: "ops/s"},
	{key: "e2e_p50_ms", label: "e2e request → subscriber p50", unit: "ms", prec: 2},
	{key: "e2e_p99_ms", label: "e2e request → subscriber p99", unit: "ms", prec: 2, target: "≤ 10 ms",
		met: func(v float64) bool { return v <= 10 }},
	{key: "e2e_p999_ms", label: "e2e request → subscriber p99.9", unit: "ms", prec: 2},
	{key: "e2e_max_ms", label: "e2e request → subscriber max", unit: "ms", prec: 2},
	{key: "e2e_completed_p99_ms", label: "  completed events only, p99", unit: "ms", prec: 2},
	{key: "e2e_operation_p99_ms", label: "  response start → completed, p99", unit: "ms", prec: 2},
	{key: "e2e_http_p50_ms", label: "  HTTP request → 202, p50", unit: "ms", prec: 2},
	{key: "e2e_http_p99_ms", label: "  HTTP request → 202, p99", unit: "ms", prec: 2},
	{key: "mem_process_mib_per_100k", label: "HeapInuse growth per 100k open ops", unit: "MiB", prec: 1, target: "stated"},
	{key: "mem_resolver_mib_per_100k", label: "  of it allocated by the resolver", unit: "MiB", prec: 1},
	{key: "mem_peak_mib_per_100k", label: "  peak growth while loading (no GC)", unit: "MiB", prec: 1},
	{key: "kv_bytes_per_open_op", label: "COMMS_OPS bytes per open op", unit: "B"},
	{key: "await_offered_s", label: "await: completions offered (achieved)", unit: "/s"},
	{key: "await_p50_ms", label: "await: event stored → Await returns, p50", unit: "ms", prec: 2},
	{key: "await_p99_ms", label: "await: event stored → Await returns, p99", unit: "ms", prec: 2, target: "≤ 5 ms",
		met: func(v float64) bool { return v <= 5 }},
	{key: "await_p999_ms", label: "await: event stored → Await returns, p99.9", unit: "ms", prec: 2},
	{key: "await_heap_bytes", label: "await: heap per pending await", unit: "B", target: "stated"},
	{key: "await_stack_bytes", label: "await: stack per pending await (the caller's goroutine)", unit: "B"},
	{key: "await_consumers", label: "await: COMMS_RESOLVED consumers for all awaits", unit: ""},
	{key: "api_bytes_per_conn", label: "api: bytes per open long-poll or stream (both sides)", unit: "B", target: "stated"},
	{key: "api_consumers", label: "api: COMMS_RESOLVED consumers for all of them", unit: ""},
	{key: "cpu_other_cores_publish", label: "noise: other processes, publish phase", unit: "cores", prec: 2},
	{key: "cpu_other_cores_relay", label: "noise: other processes, relay phase", unit: "cores", prec: 2},
	{key: "cpu_other_cores_resolver", label: "noise: other processes, resolver phase", unit: "cores", prec: 2},
	{key: "cpu_other_cores_ingest", label: "noise: other processes, ingest phase", unit: "cores", prec: 2},
	{key: "cpu_other_cores_latency", label: "noise: other processes, latency phase", unit: "cores", prec: 2},
	{key: "cpu_other_cores_memory", label: "noise: other processes, memory phase", unit: "cores", prec: 2},
}

// summarize returns the median, min and max of every figure over runs. The
// median of an even count is the mean of the middle two.
func summarize(runs []figures) (med, lo, hi figures) {
	med, lo, hi = figures{}, figures{}, figures{}
	keys := map[string]bool{}
	for _, r := range runs {
		for k := range r {
			keys[k] = true
		}
	}
	for k := range keys {
		var v []float64
		for _, r := range runs {
			if x, ok := r[k]; ok {
				v = append(v, x)
			}
		}
		slices.Sort(v)
		n := len(v)
		med[k] = (v[(n-1)/2] + v[n/2]) / 2
		lo[k], hi[k] = v[0], v[n-1]
	}
	return med, lo, hi
}

// phasesOf returns the phases a figure was measured in.
func phasesOf(key string) []string {
	switch {
	case strings.HasPrefix(key, "proc_resolver_to_relay"):
		return []string{"relay", "resolver"}
	case strings.HasPrefix(key, "proc_"):
		return phasesOf(strings.TrimPrefix(key, "proc_"))
	case strings.HasPrefix(key, "failover_"):
		return []string{"failover"}
	case strings.HasPrefix(key, "resolver_to_relay"):
		return []string{"relay", "resolver"}
	case strings.HasPrefix(key, "publish_"):
		return []string{"publish"}
	case strings.HasPrefix(key, "relay_"):
		return []string{"relay"}
	case strings.HasPrefix(key, "resolver_"):
		return []string{"resolver"}
	case strings.HasPrefix(key, "ingest_"), strings.HasPrefix(key, "bare_"), strings.HasPrefix(key, "shaped_"):
		return []string{"ingest"}
	case strings.HasPrefix(key, "e2e_"):
		return []string{"latency"}
	case strings.HasPrefix(key, "mem_"), strings.HasPrefix(key, "kv_"):
		return []string{"memory"}
	case strings.HasPrefix(key, "await_"):
		return []string{"await"}
	case strings.HasPrefix(key, "api_"):
		return []string{"api"}
	}
	return nil
}

// quiet returns the runs with only the figures of phases during which other
// processes kept less than noisyCores busy.
func quiet(runs []figures) []figures {
	out := make([]figures, 0, len(runs))
	for _, r := range runs {
		q := figures{}
		for k, v := range r {
			ok := true
			for _, p := range phasesOf(k) {
				if other, measured := r["cpu_other_cores_"+p]; measured && other > noisyCores {
					ok = false
				}
			}
			if ok {
				q[k] = v
			}
		}
		out = append(out, q)
	}
	return out
}

// count returns, per figure, how many runs have it.
func count(runs []figures) map[string]int {
	n := map[string]int{}
	for _, r := range runs {
		for k := range r {
			n[k]++
		}
	}
	return n
}

func round(f figures) map[string]float64 {
	out := make(map[string]float64, len(f))
	for k, v := range f {
		switch {
		case math.Abs(v) >= 100:
			out[k] = math.Round(v)
		default:
			out[k] = math.Round(v*1000) / 1000
		}
	}
	return out
}

func serverVersion() string { return server.VERSION }

// revision returns the VCS revision the binary was built from, with
// "+modified" when the work tree had changes ("" when unknown).
func revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, modified := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && modified {
		rev += "+modified"
	}
	return rev
}

// report prints the table, the verification, a warning about noisy phases
// and, last, the JSON line.
func report(out io.Writer, o Options, defs []figDef, runs []figures, verdicts []verdict, noisy []string, msgs, nEvents int) {
	med, lo, hi := summarize(runs)
	quietRuns := quiet(runs)
	qmed, _, _ := summarize(quietRuns)
	qn := count(quietRuns)
	fmt.Fprintf(out, "\nresults: median of %d run(s) [min, max]; ratios are taken within each run; \"quiet\": median of the runs\n"+
		"in which other processes kept under %.2f cores busy during the phase (n of them)\n", len(runs), noisyCores)
	fmt.Fprintf(out, "%-42s %10s %10s %10s %10s %2s  %-7s %-8s %s\n", "figure", "median", "min", "max", "quiet", "n", "unit", "target", "")
	fmt.Fprintln(out, strings.Repeat("-", 118))
	targets := map[string]any{}
	for _, d := range defs {
		m, ok := med[d.key]
		if !ok {
			continue
		}
		verdict := ""
		if d.met != nil {
			met := d.met(m)
			verdict = "MISSED"
			if met {
				verdict = "met"
			}
			targets[d.key] = map[string]any{"target": d.target, "median": math.Round(m*1000) / 1000, "met": met}
		}
		f := fmt.Sprintf("%%10.%df", d.prec)
		q := fmt.Sprintf("%10s", "-")
		if _, ok := qmed[d.key]; ok {
			q = fmt.Sprintf(f, qmed[d.key])
		}
		fmt.Fprintf(out, "%-42s "+f+" "+f+" "+f+" %s %2d  %-7s %-8s %s\n", d.label, m, lo[d.key], hi[d.key], q, qn[d.key], d.unit, d.target, verdict)
	}
	violations := 0
	for _, v := range verdicts {
		violations += v.violations
	}
	vline := "verified: not run (the resolver phase was not selected)"
	if len(verdicts) > 0 {
		vline = verdicts[0].String()
		fmt.Fprintf(out, "%s (in each of %d run(s))\n", vline, len(verdicts))
	}

	if len(noisy) > 0 {
		fmt.Fprintf(out, "warning: other processes kept more than %.2f cores busy during %s; those figures are unreliable\n",
			noisyCores, strings.Join(noisy, "; "))
	}
	perRun := make([]map[string]float64, len(runs))
	for i, r := range runs {
		perRun[i] = round(r)
	}
	j, _ := json.Marshal(map[string]any{
		"opsbench": 1,
		"machine": map[string]any{"cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(),
			"os": runtime.GOOS, "arch": runtime.GOARCH, "nats_server": serverVersion(), "storage": storageName(o),
			"gc": gcSettings(), "revision": revision()},
		"config": map[string]any{"ops": o.Ops, "race_share": o.RaceShare, "dup_share": o.DupShare, "shared_cc_share": o.SharedCC,
			"seed": o.Seed, "partitions": o.Partitions, "clients": o.Clients, "duration_s": o.Duration.Seconds(),
			"warmup_s": o.warmup().Seconds(), "rate_ops_s": o.Rate, "open_ops": o.OpenOps, "runs": o.Runs,
			"messages": msgs, "expected_events": nEvents, "layout": cmp.Or(o.Layout, "in-process"), "process_gc": cmp.Or(o.GC, "default"), "process_gc_for": cmp.Or(o.GCFor, "all")},
		"median":       round(med),
		"quiet_median": round(qmed),
		"quiet_runs":   qn,
		"min":          round(lo),
		"max":          round(hi),
		"runs":         perRun,
		"targets":      targets,
		"verified":     vline,
		"violations":   violations,
		"noisy":        noisy,
	})
	fmt.Fprintf(out, "%s\n", j)
}
