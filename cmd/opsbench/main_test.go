package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
