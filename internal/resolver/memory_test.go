package resolver

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/commsops/commsops/pkg/events"
)

// BenchmarkOpenOperationMemory reports the resolver's cached state per open
// operation (one running action response each, as the worker keeps it) and
// the size of its KV value.
func BenchmarkOpenOperationMemory(b *testing.B) {
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	states := make([]*KeyState, n)
	kvBytes := 0
	for i := range states {
		st := &KeyState{Key: fmt.Sprintf("cc-%08d", i)}
		e := ev(uint64(i+1), R, fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), events.StatusRunning)
		e.ClientContext = st.Key
		// Decided events are published, not kept: the state holds none.
		st.Apply(e)
		st.StallSchedules(60e9, "comms.in.0.op."+st.Key, t0)
		bs, _ := marshalState(st)
		kvBytes += len(bs)
		states[i] = st
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/open-op")
	b.ReportMetric(float64(kvBytes)/n, "kv-B/open-op")
	runtime.KeepAlive(states)
}
