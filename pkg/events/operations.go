package events

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphid"
)

// Operations answers a bot's questions about its operations from the durable
// truth in COMMS_RESOLVED: what they are now (Get), when one is done (Await)
// and what happens to them (Watch). It works the same in any process and
// after any restart, whether a result was stored before the question or
// after it. One Operations holds one ephemeral ordered consumer on the
// server for all its awaits and watches; a look-up reads the key's stored
// events by subject, without a consumer. Safe for concurrent use.
type Operations struct {
	stream  jetstream.Stream
	feed    *feed
	onError func(error)

	closeOnce sync.Once
}

// AwaitError is returned by Await when its context ends before the operation
// reaches an awaited status. It wraps the context's error.
type AwaitError struct {
	// Last is the selected operation at the last status seen, nil when no
	// operation of the clientContext was seen.
	Last *ResolvedOperation
	// Err is ctx.Err().
	Err error
}

// Error says what was awaited and the last status seen.
func (e *AwaitError) Error() string {
	if e.Last == nil {
		return fmt.Sprintf("events: await: no operation seen: %v", e.Err)
	}
	return fmt.Sprintf("events: await: operation %q last seen %s: %v", e.Last.OperationID, e.Last.Status, e.Err)
}

// Unwrap returns ctx.Err().
func (e *AwaitError) Unwrap() error { return e.Err }

// LastStatus returns the status of Last, "" when no operation was seen.
func (e *AwaitError) LastStatus() Status {
	if e.Last == nil {
		return ""
	}
	return e.Last.Status
}

// NewOperations returns an Operations over js. It needs COMMS_RESOLVED to
// exist and starts the live feed before it returns.
func NewOperations(js jetstream.JetStream, opts ...OperationsOption) (*Operations, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: nil JetStream", ErrInvalidOption)
	}
	cfg := operationsConfig{onError: func(error) {}}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil OperationsOption", ErrInvalidOption)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, StreamResolved)
	if err != nil {
		return nil, fmt.Errorf("events: operations: stream %s: %w", StreamResolved, err)
	}
	f, err := startFeed(ctx, js, cfg.onError)
	if err != nil {
		return nil, err
	}
	return &Operations{stream: stream, feed: f, onError: cfg.onError}, nil
}

// Close stops the live feed; pending awaits and watches end with ErrClosed.
// It does not close the JetStream connection.
func (o *Operations) Close() error {
	o.closeOnce.Do(o.feed.stop)
	return nil
}

// Pending returns how many awaits and watches are waiting on the live feed.
func (o *Operations) Pending() int { return o.feed.pending() }

// Get returns each operation of clientContext at its latest status, in order
// of first appearance, or ErrNotFound when nothing is resolved for it.
func (o *Operations) Get(ctx context.Context, clientContext string) ([]ResolvedOperation, error) {
	v, err := o.Lookup(ctx, clientContext)
	if err != nil {
		return nil, err
	}
	if len(v.Operations) == 0 {
		return nil, fmt.Errorf("%w: clientContext %s", ErrNotFound, quoteShort(clientContext))
	}
	return v.Operations, nil
}

// Lookup returns what COMMS_RESOLVED holds for clientContext now, with the
// stream sequence of its latest event; an empty View when nothing is
// resolved for it.
func (o *Operations) Lookup(ctx context.Context, clientContext string) (*View, error) {
	if err := graphid.ValidateClientContext(clientContext); err != nil {
		return nil, err
	}
	stored, err := o.read(ctx, Key(clientContext), 1)
	if err != nil {
		return nil, err
	}
	v := newView(clientContext)
	for _, r := range stored {
		v.apply(r)
	}
	return &v.View, nil
}

// Await returns the selected operation of clientContext as soon as it has one
// of the awaited statuses, whether it reached it before the call or after.
// Without ForOperation it follows the clientContext's latest operation (by
// first appearance), or waits for the first to appear. It never misses an
// event stored while it looks up. When ctx ends first it returns an
// *AwaitError wrapping ctx.Err() with the last status seen; after Close,
// ErrClosed.
func (o *Operations) Await(ctx context.Context, clientContext string, opts ...AwaitOption) (*ResolvedOperation, error) {
	cfg, err := newAwaitConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := graphid.ValidateClientContext(clientContext); err != nil {
		return nil, err
	}
	w, err := o.watchKey(ctx, clientContext)
	if err != nil {
		return nil, err
	}
	defer w.close()
	for {
		if op := w.view.Select(cfg.operationID); op != nil && op.Status.in(cfg.until) {
			return op, nil
		}
		if _, err := w.next(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, &AwaitError{Last: w.view.Select(cfg.operationID), Err: ctx.Err()}
			}
			return nil, err
		}
	}
}

// Watch yields clientContext's resolved events in stream order: every stored
// one from the first, then each new one as it is stored, until ctx ends or
// the loop breaks. A look-up or decoding failure is yielded as an error; the
// watch goes on after it unless the loop breaks.
func (o *Operations) Watch(ctx context.Context, clientContext string) iter.Seq2[*Resolved, error] {
	return func(yield func(*Resolved, error) bool) {
		if err := graphid.ValidateClientContext(clientContext); err != nil {
			yield(nil, err)
			return
		}
		w, err := o.watchKey(ctx, clientContext)
		if err != nil {
			if ctx.Err() == nil {
				yield(nil, err)
			}
			return
		}
		defer w.close()
		for _, r := range w.stored {
			if !yield(r, nil) {
				return
			}
		}
		w.stored = nil
		for {
			batch, err := w.next(ctx)
			if err != nil {
				if ctx.Err() == nil && !yield(nil, err) {
					return
				}
				if ctx.Err() != nil || errors.Is(err, ErrClosed) {
					return
				}
				continue
			}
			for _, r := range batch {
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

// keyWatch is one clientContext followed live: its listener, registered
// before the look-up so that no event falls between them, and the view
// built from both.
type keyWatch struct {
	o      *Operations
	key    string
	l      *listener
	view   *view
	stored []*Resolved // the look-up's events, for Watch
}

// watchKey registers a listener for clientContext's key, then reads what is
// stored.
func (o *Operations) watchKey(ctx context.Context, clientContext string) (*keyWatch, error) {
	key := Key(clientContext)
	w := &keyWatch{o: o, key: key, l: o.feed.listen(key), view: newView(clientContext)}
	stored, err := o.read(ctx, key, 1)
	if err != nil {
		w.close()
		return nil, err
	}
	for _, r := range stored {
		w.view.apply(r)
	}
	w.stored = stored
	return w, nil
}

func (w *keyWatch) close() { w.o.feed.unlisten(w.l) }

// next waits for new events of the key and returns those after the view's
// last one, applied to it; events the listener dropped are read again from
// the stream.
func (w *keyWatch) next(ctx context.Context) ([]*Resolved, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.l.wake:
		}
		queued, overflowed, closed := w.l.take()
		if closed {
			return nil, ErrClosed
		}
		if overflowed {
			var err error
			if queued, err = w.o.read(ctx, w.key, w.view.Index+1); err != nil {
				return nil, err
			}
		}
		var fresh []*Resolved
		for _, r := range queued {
			if r.Seq > w.view.Index {
				w.view.apply(r)
				fresh = append(fresh, r)
			}
		}
		if len(fresh) > 0 {
			return fresh, nil
		}
	}
}

// read returns key's stored events from stream sequence from on, in order,
// by next-by-subject look-ups (no consumer). An event that does not decode
// is reported to the error handler and skipped.
func (o *Operations) read(ctx context.Context, key string, from uint64) ([]*Resolved, error) {
	filter := SubjectResolvedPrefix + key + ".*"
	var out []*Resolved
	for seq := from; ; {
		m, err := o.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("events: look up %s from #%d: %w", StreamResolved, seq, err)
		}
		seq = m.Sequence + 1
		r, err := newResolved(m.Subject, m.Sequence, 1, m.Header, m.Data)
		if err != nil {
			o.onError(fmt.Errorf("%w: %s #%d: %w", ErrUndecodable, m.Subject, m.Sequence, err))
			continue
		}
		out = append(out, r)
	}
}
