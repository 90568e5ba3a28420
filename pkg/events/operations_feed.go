package events

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// listenerQueue bounds the events a listener holds unread; past it the
// listener is marked overflowed and reads the stream again instead.
const listenerQueue = 256

// feed is the one live view of COMMS_RESOLVED that an Operations shares among
// all its awaits and watches: an ordered consumer (one ephemeral consumer on
// the server per process, never one per await) whose events are handed to the
// listeners of their key.
type feed struct {
	cc      jetstream.ConsumeContext
	onError func(error)

	mu        sync.Mutex
	listeners map[string]map[*listener]struct{} // by key
	closed    bool
}

// listener receives the live events of one key, in stream order.
type listener struct {
	key  string
	wake chan struct{} // capacity 1: something to read

	mu         sync.Mutex
	queue      []*Resolved
	overflowed bool // events were dropped: read the stream from the last seen
	closed     bool // the feed closed
}

// startFeed creates the ordered consumer on every resolved event stored from
// now on and starts handing them out. The consumer is on the server when
// startFeed returns, so an event stored later is never missed.
func startFeed(ctx context.Context, js jetstream.JetStream, onError func(error)) (*feed, error) {
	f := &feed{onError: onError, listeners: map[string]map[*listener]struct{}{}}
	c, err := js.OrderedConsumer(ctx, StreamResolved, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectResolvedPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("events: operations feed: %w", err)
	}
	f.cc, err = c.Consume(f.deliver, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		f.onError(fmt.Errorf("events: operations feed: %w", err))
	}))
	if err != nil {
		return nil, fmt.Errorf("events: operations feed: %w", err)
	}
	return f, nil
}

// deliver hands one stored event to the listeners of its key, decoding it
// only when there are any.
func (f *feed) deliver(m jetstream.Msg) {
	key, ok := resolvedKey(m.Subject())
	if !ok {
		return
	}
	f.mu.Lock()
	ls := f.listeners[key]
	if len(ls) == 0 {
		f.mu.Unlock()
		return
	}
	targets := make([]*listener, 0, len(ls))
	for l := range ls {
		targets = append(targets, l)
	}
	f.mu.Unlock()
	r, err := decodeResolved(m)
	if err != nil {
		f.onError(fmt.Errorf("%w: %s #%d: %w", ErrUndecodable, m.Subject(), r.Seq, err))
		return
	}
	for _, l := range targets {
		l.push(r)
	}
}

// listen registers a listener for key's events from now on; call unlisten
// when done.
func (f *feed) listen(key string) *listener {
	l := &listener{key: key, wake: make(chan struct{}, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		l.closed = true
		return l
	}
	if f.listeners[key] == nil {
		f.listeners[key] = map[*listener]struct{}{}
	}
	f.listeners[key][l] = struct{}{}
	return l
}

// unlisten removes l.
func (f *feed) unlisten(l *listener) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.listeners[l.key], l)
	if len(f.listeners[l.key]) == 0 {
		delete(f.listeners, l.key)
	}
}

// stop ends the consumer and tells every listener.
func (f *feed) stop() {
	f.cc.Stop()
	f.mu.Lock()
	f.closed = true
	all := f.listeners
	f.listeners = map[string]map[*listener]struct{}{}
	f.mu.Unlock()
	for _, ls := range all {
		for l := range ls {
			l.close()
		}
	}
}

// pending returns how many listeners are registered.
func (f *feed) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ls := range f.listeners {
		n += len(ls)
	}
	return n
}

func (l *listener) push(r *Resolved) {
	l.mu.Lock()
	if len(l.queue) >= listenerQueue {
		l.queue, l.overflowed = nil, true
	} else if !l.overflowed {
		l.queue = append(l.queue, r)
	}
	l.mu.Unlock()
	l.signal()
}

func (l *listener) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.signal()
}

func (l *listener) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// take returns the queued events and whether some were dropped (then the
// caller reads the stream again), and whether the feed closed.
func (l *listener) take() (events []*Resolved, overflowed, closed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	events, overflowed, closed = l.queue, l.overflowed, l.closed
	l.queue, l.overflowed = nil, true
	return events, overflowed, closed
}

// resolvedKey returns the key of a COMMS_RESOLVED subject,
// comms.resolved.<key>.<status>.
func resolvedKey(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, SubjectResolvedPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}
