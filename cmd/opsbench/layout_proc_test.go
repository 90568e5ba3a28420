package main

import (
	"os"
	"slices"
	"testing"
)

// TestChildEnvGCFor: -gc reaches exactly the children -gc-for names (all of
// them without it), and a GOGC inherited from opsbench's own environment
// never does.
func TestChildEnvGCFor(t *testing.T) {
	t.Setenv("GOGC", "50")
	for _, tc := range []struct {
		gcFor string
		child string
		want  bool
	}{
		{"", "nats-server", true},
		{"", "resolver-a", true},
		{"nats-server", "nats-server", true},
		{"nats-server", "ingest", false},
		{"ingest,resolver", "resolver-restarted", true},
		{"ingest,resolver", "relay", false},
	} {
		t.Run(tc.gcFor+"/"+tc.child, func(t *testing.T) {
			ps, err := newProcs("GOGC=off GOMEMLIMIT=1GiB", tc.gcFor)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.RemoveAll(ps.dir) })
			env := ps.childEnv(tc.child, []string{"X=1"})
			if got := slices.Contains(env, "GOGC=off") && slices.Contains(env, "GOMEMLIMIT=1GiB"); got != tc.want {
				t.Errorf("GC settings given: %v, want %v (env %q)", got, tc.want, env)
			}
			if slices.Contains(env, "GOGC=50") || !slices.Contains(env, "X=1") {
				t.Errorf("env %q: opsbench's own GOGC passed on, or the child's own variable dropped", env)
			}
		})
	}
}
