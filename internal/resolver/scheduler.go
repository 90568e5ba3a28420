package resolver

import (
	"sync"
	"time"
)

// keyScheduler runs each key's work items one at a time, in the order they
// were queued, on a goroutine of the key's own that ends when its queue is
// empty. It knows nothing of JetStream. Safe for concurrent use; its lock is
// never held while it calls run or checkpoint.
//
// A goroutine whose key is done parks (at most maxIdleRunners of them) and
// runs the next key that starts, rather than ending: a new goroutine would
// grow its stack again, copying it several times, for each key's work.
// wait ends the parked ones.
type keyScheduler[T any] struct {
	// run handles one item, on the key's goroutine.
	run func(key string, it T)
	// checkpoint, when set, is called on the key's goroutine before each item
	// and before the goroutine ends (drained: nothing is queued). When it
	// reports true it did work of its own, and the queue is looked at again.
	checkpoint func(key string, drained bool) bool

	mu     sync.Mutex
	queues map[string]*keyQueue[T] // keys whose goroutine runs
	// abandoned keys take no more work (see abandon).
	abandoned map[string]bool
	wg        sync.WaitGroup // key goroutines and pending after calls
	// idle holds the hand-over channels of the parked goroutines.
	idle []chan keyStart[T]
}

type keyQueue[T any] struct {
	items []T
	// first backs items for the first ones queued: one allocation for the
	// queue and, mostly, all its items.
	first [2]T
}

// keyStart hands a key and its queue to a parked goroutine.
type keyStart[T any] struct {
	key string
	q   *keyQueue[T]
}

// maxIdleRunners bounds the goroutines parked for the next key.
const maxIdleRunners = 256

func newKeyScheduler[T any](run func(key string, it T), checkpoint func(key string, drained bool) bool) *keyScheduler[T] {
	return &keyScheduler[T]{run: run, checkpoint: checkpoint,
		queues: make(map[string]*keyQueue[T]), abandoned: make(map[string]bool)}
}

// enqueue queues it behind key's other items and starts key's goroutine
// when none runs. Items of an abandoned key are dropped.
func (s *keyScheduler[T]) enqueue(key string, it T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.abandoned[key] {
		return
	}
	q := s.queues[key]
	if q == nil {
		q = &keyQueue[T]{}
		q.items = q.first[:0]
		s.queues[key] = q
		s.wg.Add(1)
		if n := len(s.idle); n > 0 {
			ch := s.idle[n-1]
			s.idle[n-1] = nil
			s.idle = s.idle[:n-1]
			ch <- keyStart[T]{key, q} // buffered, and its goroutine waits for nothing else
		} else {
			go s.runner(key, q)
		}
	}
	q.items = append(q.items, it)
}

// after enqueues it for key once d has passed, unless stop is called first;
// stop reports whether it prevented the enqueue. wait waits for it.
func (s *keyScheduler[T]) after(key string, d time.Duration, it T) (stop func() bool) {
	s.wg.Add(1)
	t := time.AfterFunc(d, func() {
		s.enqueue(key, it)
		s.wg.Done()
	})
	return func() bool {
		if !t.Stop() {
			return false
		}
		s.wg.Done()
		return true
	}
}

// abandon drops key's queued items and every item queued for it later. The
// item running, if any, runs to its end.
func (s *keyScheduler[T]) abandon(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.abandoned[key] = true
	if q := s.queues[key]; q != nil {
		q.items = nil
	}
}

// busy reports whether key's goroutine runs (it has work queued or running).
func (s *keyScheduler[T]) busy(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.queues[key]
	return ok
}

// queued returns a copy of key's queued items (not the running one).
func (s *keyScheduler[T]) queued(key string) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[key]; q != nil {
		return append([]T(nil), q.items...)
	}
	return nil
}

// wait returns once every key's work has ended and every after has
// enqueued or been stopped; the parked goroutines end.
func (s *keyScheduler[T]) wait() {
	s.wg.Wait()
	s.mu.Lock()
	for _, ch := range s.idle {
		close(ch)
	}
	s.idle = nil
	s.mu.Unlock()
}

// runner runs key's work, then that of each key handed to it while parked,
// until it is not parked (maxIdleRunners) or wait ends it.
func (s *keyScheduler[T]) runner(key string, q *keyQueue[T]) {
	var ch chan keyStart[T]
	for {
		if ch == nil {
			ch = make(chan keyStart[T], 1)
		}
		if !s.runKey(key, q, ch) {
			return
		}
		next, ok := <-ch
		if !ok {
			return
		}
		key, q = next.key, next.q
	}
}

// runKey runs key's items until its queue is empty; it then parks ch for
// the next key, when fewer than maxIdleRunners are, and reports whether.
func (s *keyScheduler[T]) runKey(key string, q *keyQueue[T], ch chan keyStart[T]) (parked bool) {
	defer s.wg.Done() // after parking: wait sees ch parked once its work ended
	for {
		if s.checkpoint != nil {
			s.mu.Lock()
			drained := len(q.items) == 0
			s.mu.Unlock()
			if s.checkpoint(key, drained) {
				continue
			}
		}
		s.mu.Lock()
		if len(q.items) == 0 {
			delete(s.queues, key)
			if parked = len(s.idle) < maxIdleRunners; parked {
				s.idle = append(s.idle, ch)
			}
			s.mu.Unlock()
			return parked
		}
		it := q.items[0]
		var zero T
		q.items[0] = zero // release it
		q.items = q.items[1:]
		s.mu.Unlock()
		s.run(key, it)
	}
}
