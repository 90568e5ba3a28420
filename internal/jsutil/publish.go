package jsutil

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Pub is one message to publish, with its publish options.
type Pub struct {
	Msg  *nats.Msg
	Opts []jetstream.PublishOpt
}

// PublishAll sends every message with PublishMsgAsync, all before waiting,
// then waits for each ack in order. It returns the acks in the order of pubs,
// or the first failure ("publish <subject>: ..." wrapping the client's or
// the server's error, or ctx's); messages before the failing one may be
// stored.
func PublishAll(ctx context.Context, js jetstream.JetStream, pubs ...Pub) ([]*jetstream.PubAck, error) {
	return PublishAllWithin(ctx, js, 0, pubs...)
}

// PublishAllWithin is PublishAll that also gives up once timeout (0: none)
// has passed since the call, with an error wrapping context.DeadlineExceeded,
// as under a context with that timeout, but without deriving one: a hot
// path publishes without allocating a context, a timer and a cancellation.
func PublishAllWithin(ctx context.Context, js jetstream.JetStream, timeout time.Duration, pubs ...Pub) ([]*jetstream.PubAck, error) {
	var expired <-chan time.Time
	if timeout > 0 {
		t := getTimer(timeout)
		defer putTimer(t)
		expired = t.C
	}
	var buf [4]jetstream.PubAckFuture
	futures := buf[:0]
	for _, p := range pubs {
		f, err := js.PublishMsgAsync(p.Msg, p.Opts...)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", p.Msg.Subject, err)
		}
		futures = append(futures, f)
	}
	acks := make([]*jetstream.PubAck, len(futures))
	for i, f := range futures {
		select {
		case acks[i] = <-f.Ok():
		case err := <-f.Err():
			return nil, fmt.Errorf("publish %s: %w", pubs[i].Msg.Subject, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("publish %s: %w", pubs[i].Msg.Subject, ctx.Err())
		case <-expired:
			return nil, fmt.Errorf("publish %s: %w", pubs[i].Msg.Subject, context.DeadlineExceeded)
		}
	}
	return acks, nil
}

// timers holds stopped timers for PublishAllWithin. A timer stopped with
// Stop has nothing left in its channel (Go 1.23 timers), so Reset reuses it.
var timers sync.Pool

// getTimer returns a timer that fires once d has passed, from the pool when
// it holds one.
func getTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// putTimer stops t and returns it to the pool.
func putTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}
