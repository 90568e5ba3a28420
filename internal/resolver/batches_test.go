package resolver

import (
	"slices"
	"testing"
	"time"
)

// fakeTimers stands for keyScheduler.after in the batches tests: it records
// which keys have a delayed commit armed and whether it was stopped.
type fakeTimers struct{ armed, stopped []string }

func (f *fakeTimers) arm(key string, _ time.Duration) func() bool {
	f.armed = append(f.armed, key)
	done := false
	return func() bool {
		if done {
			return false
		}
		done = true
		f.stopped = append(f.stopped, key)
		return true
	}
}

// TestBatchesGroupCommit: what joins a batch, when a batch is due, and how a
// delayed commit is armed, stopped and made immediate when stopping.
func TestBatchesGroupCommit(t *testing.T) {
	e := pendingEntry{ev: &Evidence{Seq: 1}}
	t.Run("a message that changed nothing joins only an existing batch", func(t *testing.T) {
		bs := newBatches(0, (&fakeTimers{}).arm)
		if bs.add("k", e, false) || bs.has("k") {
			t.Fatal("a duplicate opened a batch")
		}
		if !bs.add("k", e, true) || !bs.add("k", e, false) || len(bs.pending("k")) != 2 {
			t.Fatalf("batch %v, want both messages", bs.pending("k"))
		}
	})
	t.Run("without delay: due once the queue is drained, or when full", func(t *testing.T) {
		bs := newBatches(0, (&fakeTimers{}).arm)
		if bs.due("k", true) {
			t.Fatal("no batch is due")
		}
		bs.add("k", e, true)
		if bs.due("k", false) || !bs.due("k", true) {
			t.Fatal("want due only when drained")
		}
		for range maxBatch - 1 {
			bs.add("k", e, true)
		}
		if !bs.due("k", false) {
			t.Fatalf("a full batch (%d) is not due", maxBatch)
		}
	})
	t.Run("with delay: armed once when drained, stopped by begin", func(t *testing.T) {
		ft := &fakeTimers{}
		bs := newBatches(time.Second, ft.arm)
		bs.add("k", e, true)
		// Twice: the second call must neither be due nor arm again.
		if first, second := bs.due("k", true), bs.due("k", true); first || second {
			t.Fatalf("a delayed batch was due at once (first call %v, second %v)", first, second)
		}
		if !slices.Equal(ft.armed, []string{"k"}) {
			t.Fatalf("armed %v, want k once", ft.armed)
		}
		if got := bs.begin("k"); len(got) != 1 || !slices.Equal(ft.stopped, []string{"k"}) {
			t.Fatalf("begin returned %d entries, stopped %v", len(got), ft.stopped)
		}
		if !bs.has("k") {
			t.Fatal("begin removed the batch before the commit finished")
		}
		bs.finish("k")
		if bs.has("k") || bs.begin("k") != nil {
			t.Fatal("finish left the batch")
		}
	})
	t.Run("stopping: delayed commits are returned for queueing, later ones immediate", func(t *testing.T) {
		ft := &fakeTimers{}
		bs := newBatches(time.Second, ft.arm)
		bs.add("a", e, true)
		bs.add("b", e, true)
		bs.due("a", true) // armed
		if keys := bs.stop(); !slices.Equal(keys, []string{"a"}) {
			t.Fatalf("stop returned %v, want the armed key a", keys)
		}
		if !bs.due("b", true) {
			t.Fatal("after stop a drained batch is not due at once")
		}
	})
	t.Run("drop stops the delayed commit and forgets the batch", func(t *testing.T) {
		ft := &fakeTimers{}
		bs := newBatches(time.Second, ft.arm)
		bs.add("k", e, true)
		bs.due("k", true)
		bs.drop("k")
		if bs.has("k") || !slices.Equal(ft.stopped, []string{"k"}) {
			t.Fatalf("after drop: has %v, stopped %v", bs.has("k"), ft.stopped)
		}
	})
}
