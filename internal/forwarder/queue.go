package forwarder

import (
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// Per-key queues. A key's queue holds, in stream order, the events of the
// key this replica has received and not settled, and placeholders for the
// key's events that are somewhere else: nak'd for a retry and waiting for
// their redelivery, or delivered to a previous holder of the pin and not
// known to be acked (takeover.go). Only the front entry is ever delivered,
// and only when it is not a placeholder: a key's events reach the sink one
// at a time and in stream order. All of it is guarded by Forwarder.mu.

// entry is one event of a key.
type entry struct {
	seq uint64
	// msg is the delivery to settle; nil for a placeholder.
	msg jetstream.Msg
	// dups are later deliveries of seq that came while msg was being
	// delivered; they are settled with it.
	dups []jetstream.Msg
	// takeover marks a placeholder put by a takeover (else: a retry).
	takeover bool
	busy     bool // being delivered
}

// keyQueue is one key's entries, sorted by stream sequence.
type keyQueue struct {
	items   []*entry
	running bool // a runner goroutine works on it
}

func (q *keyQueue) find(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(q.items, seq, func(e *entry, s uint64) int {
		switch {
		case e.seq < s:
			return -1
		case e.seq > s:
			return 1
		}
		return 0
	})
}

// enqueue adds a delivery of seq to key's queue (resolving its placeholder,
// if any) and starts the key's runner when its front entry can go.
func (f *Forwarder) enqueue(key string, seq uint64, msg jetstream.Msg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.keys[key]
	if q == nil {
		q = &keyQueue{}
		f.keys[key] = q
	}
	i, found := q.find(seq)
	switch {
	case !found:
		q.items = slices.Insert(q.items, i, &entry{seq: seq, msg: msg})
	case q.items[i].msg == nil:
		q.items[i].msg, q.items[i].takeover = msg, false
		f.placeholders--
	case q.items[i].busy:
		q.items[i].dups = append(q.items[i].dups, msg)
	default:
		q.items[i].msg = msg // a newer delivery of an event held here
	}
	f.kickLocked(key, q)
}

// placeholdLocked puts a takeover placeholder for seq in key's queue unless
// the queue has an entry for it. It reports whether it did.
func (f *Forwarder) placeholdLocked(key string, seq uint64) bool {
	q := f.keys[key]
	if q == nil {
		q = &keyQueue{}
		f.keys[key] = q
	}
	i, found := q.find(seq)
	if found {
		return false
	}
	q.items = slices.Insert(q.items, i, &entry{seq: seq, takeover: true})
	f.placeholders++
	return true
}

// kickLocked starts key's runner when none runs and its front entry is a
// delivery; it forgets an empty, idle queue.
func (f *Forwarder) kickLocked(key string, q *keyQueue) {
	if q.running {
		return
	}
	if len(q.items) == 0 {
		delete(f.keys, key)
		return
	}
	if f.stopping || q.items[0].msg == nil {
		return
	}
	q.running = true
	f.wg.Add(1)
	go f.runKey(key, q)
}

// runKey delivers key's front entry, one at a time, until the queue is
// empty, its front is a placeholder, or the forwarder stops.
func (f *Forwarder) runKey(key string, q *keyQueue) {
	defer f.wg.Done()
	for {
		f.mu.Lock()
		if f.stopping || len(q.items) == 0 || q.items[0].msg == nil {
			q.running = false
			if len(q.items) == 0 {
				delete(f.keys, key)
			}
			f.mu.Unlock()
			return
		}
		e := q.items[0]
		e.busy = true
		f.mu.Unlock()

		retry := f.deliver(key, e)

		f.mu.Lock()
		e.busy = false
		// e is still queued: only this runner removes an entry that is
		// busy, and no placeholder takes a sequence that has an entry.
		if i, found := q.find(e.seq); found && q.items[i] == e {
			if retry {
				e.msg, e.dups = nil, nil
				f.placeholders++
				f.naks++
			} else {
				q.items = slices.Delete(q.items, i, i+1)
			}
		}
		f.mu.Unlock()
	}
}

// heldLocked returns the deliveries this replica holds and is not
// delivering right now, and how many entries with a delivery (held or
// busy) have a sequence up to seq.
func (f *Forwarder) heldLocked(upTo uint64) (held []jetstream.Msg, withMsg int) {
	for _, q := range f.keys {
		for _, e := range q.items {
			if e.msg == nil {
				continue
			}
			if e.seq <= upTo {
				withMsg++
			}
			if !e.busy {
				held = append(held, e.msg)
			}
		}
	}
	return held, withMsg
}
