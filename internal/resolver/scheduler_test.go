package resolver

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSchedulerOrderPerKey: every key's items run in the order queued, one
// at a time, however many keys are fed at once.
func TestSchedulerOrderPerKey(t *testing.T) {
	const keys, items = 20, 200
	var (
		mu      sync.Mutex
		got     = map[string][]int{}
		running = map[string]*atomic.Int32{}
	)
	for k := range keys {
		running[fmt.Sprint("k", k)] = &atomic.Int32{}
	}
	s := newKeyScheduler(func(key string, it int) {
		if n := running[key].Add(1); n != 1 {
			t.Errorf("key %s: %d items at once", key, n)
		}
		mu.Lock()
		got[key] = append(got[key], it)
		mu.Unlock()
		running[key].Add(-1)
	}, nil)
	var feeders sync.WaitGroup
	for k := range keys {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			for i := range items {
				s.enqueue(fmt.Sprint("k", k), i)
			}
		}()
	}
	feeders.Wait()
	s.wait()
	for k := range keys {
		key := fmt.Sprint("k", k)
		if len(got[key]) != items || !slices.IsSorted(got[key]) {
			t.Fatalf("key %s ran %v, want 0..%d in order", key, got[key], items-1)
		}
		if s.busy(key) {
			t.Errorf("key %s busy after wait", key)
		}
	}
}

// TestSchedulerKeysRunConcurrently: a key whose item blocks holds up only
// itself: another key's items run meanwhile.
func TestSchedulerKeysRunConcurrently(t *testing.T) {
	aStarted, release := make(chan struct{}), make(chan struct{})
	bRan := make(chan struct{})
	s := newKeyScheduler(func(key string, it int) {
		switch {
		case key == "a" && it == 1:
			close(aStarted)
			<-release
		case key == "b":
			close(bRan)
		}
	}, nil)
	s.enqueue("a", 1)
	s.enqueue("a", 2)
	s.enqueue("b", 1)
	<-aStarted
	<-bRan // would never come if b waited behind a
	if !s.busy("a") || len(s.queued("a")) != 1 {
		t.Errorf("a: busy %v, queued %v; want busy with one item queued", s.busy("a"), s.queued("a"))
	}
	close(release)
	s.wait()
}

// TestSchedulerAbandon: an abandoned key's queued items and every later one
// are dropped; the running item ends normally; other keys are untouched.
func TestSchedulerAbandon(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var ran []string
	s := newKeyScheduler(func(key string, it int) {
		mu.Lock()
		ran = append(ran, fmt.Sprint(key, it))
		mu.Unlock()
		if key == "a" && it == 1 {
			close(started)
			<-release
		}
	}, nil)
	s.enqueue("a", 1)
	s.enqueue("a", 2)
	<-started
	s.abandon("a")
	s.enqueue("a", 3)
	s.enqueue("b", 1)
	close(release)
	s.wait()
	s.enqueue("a", 4)
	s.wait()
	slices.Sort(ran)
	if want := []string{"a1", "b1"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
}

// TestSchedulerCheckpoint: the checkpoint runs on the key's goroutine before
// every item (drained false while more are queued) and before the goroutine
// ends; work it reports makes the queue be looked at again, and the goroutine
// ends only after a checkpoint with nothing to do.
func TestSchedulerCheckpoint(t *testing.T) {
	var log []string // only the key's goroutine appends: the race detector checks it
	gate := make(chan struct{})
	pending := 1 // checkpoint work to do once the queue drains
	s := newKeyScheduler(func(_ string, it int) {
		if it == 1 {
			<-gate
		}
		log = append(log, fmt.Sprint("run", it))
	}, func(_ string, drained bool) bool {
		log = append(log, fmt.Sprint("checkpoint drained=", drained))
		if drained && pending > 0 {
			pending--
			log = append(log, "work")
			return true
		}
		return false
	})
	s.enqueue("k", 1)
	s.enqueue("k", 2)
	close(gate)
	s.wait()
	want := []string{
		"checkpoint drained=false", "run1",
		"checkpoint drained=false", "run2",
		"checkpoint drained=true", "work",
		"checkpoint drained=true",
	}
	if !slices.Equal(log, want) {
		t.Fatalf("log %q,\nwant %q", log, want)
	}
}

// TestSchedulerAfter: an item scheduled for later runs once its delay has
// passed, unless stopped first; wait waits for a pending one.
func TestSchedulerAfter(t *testing.T) {
	ran := make(chan int, 2)
	s := newKeyScheduler(func(_ string, it int) { ran <- it }, nil)
	stopFired := s.after("k", time.Millisecond, 1)
	stopped := s.after("k", time.Hour, 2)
	if !stopped() {
		t.Fatal("stop of a pending item reported it had fired")
	}
	s.wait() // returns only once item 1 has been queued and run
	if got := <-ran; got != 1 {
		t.Fatalf("ran %d, want 1", got)
	}
	if stopFired() {
		t.Error("stop of a fired item reported it stopped it")
	}
	select {
	case it := <-ran:
		t.Fatalf("stopped item %d ran", it)
	default:
	}
}

// TestSchedulerReusesParkedGoroutine: a goroutine whose key is done parks
// and takes the next key that starts; wait ends the parked ones, and work
// queued after wait still runs.
func TestSchedulerReusesParkedGoroutine(t *testing.T) {
	ran := make(chan string, 1)
	s := newKeyScheduler(func(key string, _ int) { ran <- key }, nil)
	idle := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.idle)
	}
	parkedOnce := func() {
		for idle() != 1 { // the key's goroutine parks right after its last item
			runtime.Gosched()
		}
	}
	s.enqueue("a", 1)
	if got := <-ran; got != "a" {
		t.Fatalf("ran %q, want a", got)
	}
	parkedOnce()
	s.enqueue("b", 1)
	if n := idle(); n != 0 {
		t.Fatalf("%d goroutines parked after b started, want its goroutine handed over", n)
	}
	if got := <-ran; got != "b" {
		t.Fatalf("ran %q, want b", got)
	}
	parkedOnce()
	s.wait()
	if n := idle(); n != 0 {
		t.Fatalf("%d goroutines parked after wait, want 0", n)
	}
	s.enqueue("c", 1)
	if got := <-ran; got != "c" {
		t.Fatalf("ran %q, want c", got)
	}
	s.wait()
}
