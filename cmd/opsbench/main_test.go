package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the layout mode re-execute the test binary as one of its
// ceiling processes, as it re-executes opsbench.
func TestMain(m *testing.M) {
	if mode := os.Getenv(serveEnv); mode != "" {
		os.Exit(serveMain(mode))
	}
	os.Exit(m.Run())
}

// TestBenchmarkVerifiesItself runs every phase at tiny sizes on one embedded
// server: the resolver's output must match the model, every figure must be
// measured, and the last line must be the JSON report.
func TestBenchmarkVerifiesItself(t *testing.T) {
	o := defaultOptions()
	o.Ops, o.Clients, o.Duration, o.Warmup, o.Rate, o.OpenOps, o.Runs = 150, 4, time.Second, 200*time.Millisecond, 50, 300, 1
	o.Awaits, o.LongPolls, o.Streams = 100, 40, 10
	o.CPUProfile = filepath.Join(t.TempDir(), "cpu.prof")
	o.MemProfile = filepath.Join(t.TempDir(), "mem.prof")
	o.AllocProfile = filepath.Join(t.TempDir(), "allocs.prof")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := run(ctx, o, &out, io.Discard); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "verified: 150 operations, ") || !strings.Contains(text, " 0 violations") {
		t.Fatalf("no clean verification:\n%s", text)
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var rep struct {
		Median     map[string]float64 `json:"median"`
		Verified   string             `json:"verified"`
		Violations int                `json:"violations"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("the last line is not the JSON report: %v\n%s", err, text)
	}
	if rep.Violations != 0 || !strings.HasPrefix(rep.Verified, "verified: 150 operations") {
		t.Errorf("report: %+v", rep)
	}
	for _, d := range figDefs {
		v, ok := rep.Median[d.key]
		if !ok {
			t.Errorf("figure %s missing", d.key)
			continue
		}
		if strings.HasPrefix(d.key, "mem_") || strings.HasPrefix(d.key, "cpu_other_") || strings.HasSuffix(d.key, "_bytes") || strings.HasSuffix(d.key, "_per_conn") {
			continue // the heap after GC may even shrink at these sizes; the machine may be idle
		}
		if d.key == "resolver_schedules_per_msg" {
			continue // so small a backlog is applied whole before a commit: every operation finished needs no stall check
		}
		if v <= 0 {
			t.Errorf("figure %s = %v, want > 0", d.key, v)
		}
	}
	for _, p := range []string{o.CPUProfile, o.MemProfile, o.AllocProfile + ".base", o.AllocProfile} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("profile %s not written: %v", p, err)
		}
	}
}

// TestLayoutProcessesVerifiesItself runs -layout processes at tiny sizes: it
// builds nats-server, the ingest and the resolver, runs each phase with every
// component a process of its own, and must verify the resolver's output
// against the model and report every layout figure; no process it started
// may outlive it.
func TestLayoutProcessesVerifiesItself(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and the binaries, and runs a failover (about a minute)")
	}
	o := defaultOptions()
	o.Layout, o.GC = "processes", "GOGC=200"
	o.Ops, o.Clients, o.Duration, o.Warmup, o.Rate, o.Runs = 150, 4, time.Second, 200*time.Millisecond, 100, 1
	dirsBefore, _ := filepath.Glob(filepath.Join(os.TempDir(), "opsbench-layout-*"))
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	err := runLayout(ctx, o, &out)
	if kids := children(t); len(kids) > 0 {
		t.Errorf("processes still running after the benchmark: %v", kids)
	}
	// Another opsbench on the machine may remove its own directory meanwhile:
	// only a directory that was not there before is this run's leftover.
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "opsbench-layout-*"))
	if left := slices.DeleteFunc(dirs, func(d string) bool { return slices.Contains(dirsBefore, d) }); len(left) > 0 {
		t.Errorf("temporary directories left behind: %v", left)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "verified: 150 operations, ") || !strings.Contains(text, " 0 violations") {
		t.Fatalf("no clean verification:\n%s", text)
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var rep struct {
		Median     map[string]float64 `json:"median"`
		Violations int                `json:"violations"`
		Config     map[string]any     `json:"config"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("the last line is not the JSON report: %v\n%s", err, text)
	}
	if rep.Violations != 0 || rep.Config["layout"] != "processes" || rep.Config["process_gc"] != "GOGC=200" {
		t.Errorf("report: violations %d, config %v", rep.Violations, rep.Config)
	}
	for _, d := range layoutFigDefs {
		v, ok := rep.Median[d.key]
		switch {
		case !ok:
			t.Errorf("figure %s missing", d.key)
		case v < 0:
			t.Errorf("figure %s = %v, want ≥ 0", d.key, v)
		case v == 0 && !mayBeZero(d.key):
			t.Errorf("figure %s = %v, want > 0", d.key, v)
		}
	}
}

// children returns the command lines of this process's live child processes
// (from /proc; the test runs on Linux, where the layout mode reads /proc too).
func children(t *testing.T) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 || f[0] == "Z" || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		out = append(out, string(b[:i+1]))
	}
	return out
}

// mayBeZero reports whether layout figure key may be 0 in a valid run: the
// noise, CPU figures too small to read in a short phase, and what a kill
// found in flight (often nothing).
func mayBeZero(key string) bool {
	return strings.HasPrefix(key, "cpu_other_") || strings.HasSuffix(key, "_cpu_us_per_msg") ||
		strings.HasSuffix(key, "_cpu_us_per_req") || strings.HasPrefix(key, "proc_failover_inflight_")
}
