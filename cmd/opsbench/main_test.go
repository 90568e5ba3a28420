package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestBenchmarkVerifiesItself runs every phase at tiny sizes: the resolver's
// output must match the model and every figure must be measured.
func TestBenchmarkVerifiesItself(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark smoke test skipped in -short mode")
	}
	var out bytes.Buffer
	o := Options{Ops: 300, RaceShare: 0.3, DupShare: 0.2, SharedCC: 0.25, Clients: 4, Duration: 500 * time.Millisecond, Rate: 100, Runs: 1}
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "verified: 300 operations") || !strings.Contains(text, " 0 violations") {
		t.Fatalf("no clean verification:\n%s", text)
	}
	for _, want := range []string{"bare relay (ceiling)", "resolver, one worker", "ingest (parse", "p99", "per open operation", `"resolver_to_relay":`} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
