package resolver

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// maxBatch bounds the messages of one key in one commit; well under
// maxApplied, so that a batch's messages are always recognised as applied.
const maxBatch = 64

// pendingEntry is one applied, uncommitted message of a key.
type pendingEntry struct {
	msg     jetstream.Msg // nil for a caught-up message: its own delivery is acked
	ev      *Evidence
	subject string
}

// batch is a key's applied and uncommitted work.
type batch struct {
	entries []pendingEntry
	// stopTimer is set while a delayed commit is armed (or has fired and its
	// commit is queued); it stops the delayed commit if it has not fired.
	stopTimer func() bool
	// first backs entries while the batch is small (most are): one
	// allocation for the batch and its first entries.
	first [2]pendingEntry
}

// batches holds every key's batch: the applied messages its next state write
// (group commit, see doc.go) commits and acks. Safe for concurrent use; its
// lock is held while it arms a delayed commit (keyScheduler.after).
type batches struct {
	delay time.Duration
	// arm schedules key's commit after the delay; the returned function
	// stops it unless it has fired, and reports whether it did.
	arm func(key string, delay time.Duration) (stop func() bool)

	mu      sync.Mutex
	m       map[string]*batch
	closing bool // stopping: commit at once, never delayed
}

func newBatches(delay time.Duration, arm func(string, time.Duration) func() bool) *batches {
	return &batches{delay: delay, arm: arm, m: make(map[string]*batch)}
}

// add appends e to key's batch, creating it when applied is set. It reports
// false, adding nothing, when e changed nothing and key has no batch: e is
// finished at once.
func (bs *batches) add(key string, e pendingEntry, applied bool) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.m[key]
	if b == nil {
		if !applied {
			return false
		}
		b = &batch{}
		b.entries = b.first[:0]
		bs.m[key] = b
	}
	b.entries = append(b.entries, e)
	return true
}

// due reports whether key's batch must be committed before its goroutine
// moves on or ends: it is full, or the queue is drained and commits are not
// delayed (or the worker is stopping). When the queue is drained and commits
// are delayed, it arms the delayed commit instead.
func (bs *batches) due(key string, drained bool) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.m[key]
	if b == nil || len(b.entries) == 0 {
		return false
	}
	if len(b.entries) >= maxBatch {
		return true
	}
	if !drained || b.stopTimer != nil {
		return false
	}
	if bs.delay <= 0 || bs.closing {
		return true
	}
	b.stopTimer = bs.arm(key, bs.delay)
	return false
}

// begin returns key's batch entries for a commit and stops its delayed
// commit. The batch stays (a rebuild of the state needs it) until finish.
func (bs *batches) begin(key string) []pendingEntry {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.m[key]
	if b == nil {
		return nil
	}
	if b.stopTimer != nil && b.stopTimer() {
		b.stopTimer = nil
	}
	return b.entries
}

// finish removes key's batch once committed (or given up).
func (bs *batches) finish(key string) {
	bs.mu.Lock()
	delete(bs.m, key)
	bs.mu.Unlock()
}

// pending returns a copy of key's batch entries (nil: none).
func (bs *batches) pending(key string) []pendingEntry {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b := bs.m[key]; b != nil {
		return append([]pendingEntry(nil), b.entries...)
	}
	return nil
}

// has reports whether key has a batch.
func (bs *batches) has(key string) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	_, ok := bs.m[key]
	return ok
}

// drop forgets key's batch without committing it (abandon).
func (bs *batches) drop(key string) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b := bs.m[key]; b != nil {
		if b.stopTimer != nil {
			b.stopTimer()
		}
		delete(bs.m, key)
	}
}

// stop makes every later commit immediate and returns the keys whose
// delayed commit it stopped: their commit must be queued now.
func (bs *batches) stop() []string {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.closing = true
	var keys []string
	for key, b := range bs.m {
		if b.stopTimer != nil && b.stopTimer() {
			b.stopTimer = nil
			keys = append(keys, key)
		}
	}
	return keys
}
