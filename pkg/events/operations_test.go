package events_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/eventstest"
	"github.com/commsops/commsops/pkg/events"
)

// emitOp stores the resolved event of opID (in slot) of cc reaching status.
var emitOp = eventstest.EmitResolved

func newOperations(t testing.TB, js jetstream.JetStream, opts ...events.OperationsOption) *events.Operations {
	t.Helper()
	ops, err := events.NewOperations(js, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ops.Close() })
	return ops
}

// awaitAsync runs Await in the background and returns its outcome channel.
type awaitResult struct {
	op  *events.ResolvedOperation
	err error
}

func awaitAsync(ops *events.Operations, ctx context.Context, cc string, opts ...events.AwaitOption) <-chan awaitResult {
	ch := make(chan awaitResult, 1)
	go func() {
		op, err := ops.Await(ctx, cc, opts...)
		ch <- awaitResult{op, err}
	}()
	return ch
}

// waitPending waits until ops has n listeners on its live feed: the awaits
// have looked up and wait for news.
func waitPending(t testing.TB, ops *events.Operations, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for ops.Pending() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d pending, want %d", ops.Pending(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func recv(t testing.TB, ch <-chan awaitResult) awaitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("await did not return")
		return awaitResult{}
	}
}

func TestAwait(t *testing.T) {
	_, js := resolvedJS(t)
	ops := newOperations(t, js)
	ctx := context.Background()

	t.Run("result before the await", func(t *testing.T) {
		emitOp(t, js, "cc-before", "1", "op-a", events.StatusRunning)
		emitOp(t, js, "cc-before", "1", "op-a", events.StatusCompleted)
		op, err := ops.Await(ctx, "cc-before")
		if err != nil || op.Status != events.StatusCompleted || op.OperationID != "op-a" || op.ResultInfo == nil || op.ResultInfo.Code != 200 {
			t.Fatalf("op %+v, err %v", op, err)
		}
	})
	t.Run("result during the await", func(t *testing.T) {
		emitOp(t, js, "cc-during", "1", "op-b", events.StatusRunning)
		ch := awaitAsync(ops, ctx, "cc-during")
		waitPending(t, ops, 1)
		emitOp(t, js, "cc-during", "1", "op-b", events.StatusFailed)
		r := recv(t, ch)
		if r.err != nil || r.op.Status != events.StatusFailed {
			t.Fatalf("op %+v, err %v", r.op, r.err)
		}
	})
	t.Run("first operation to appear", func(t *testing.T) {
		ch := awaitAsync(ops, ctx, "cc-first")
		waitPending(t, ops, 1)
		emitOp(t, js, "cc-first", "1", "op-c", events.StatusNotStarted)
		emitOp(t, js, "cc-first", "1", "op-c", events.StatusCompleted)
		if r := recv(t, ch); r.err != nil || r.op.OperationID != "op-c" || r.op.Status != events.StatusCompleted {
			t.Fatalf("op %+v, err %v", r.op, r.err)
		}
	})
	t.Run("two operations on one clientContext", func(t *testing.T) {
		emitOp(t, js, "cc-two", "1", "op-1", events.StatusRunning)
		emitOp(t, js, "cc-two", "2", "op-2", events.StatusRunning)
		latest := awaitAsync(ops, ctx, "cc-two")
		first := awaitAsync(ops, ctx, "cc-two", events.ForOperation("OP-1"))
		waitPending(t, ops, 2)
		emitOp(t, js, "cc-two", "1", "op-1", events.StatusCompleted)
		if r := recv(t, first); r.err != nil || r.op.OperationID != "op-1" || r.op.Status != events.StatusCompleted {
			t.Fatalf("ForOperation: op %+v, err %v", r.op, r.err)
		}
		select {
		case r := <-latest:
			t.Fatalf("the await of the latest operation returned on the first's completion: %+v %v", r.op, r.err)
		default:
		}
		emitOp(t, js, "cc-two", "2", "op-2", events.StatusFailed)
		if r := recv(t, latest); r.err != nil || r.op.OperationID != "op-2" || r.op.Status != events.StatusFailed {
			t.Fatalf("latest: op %+v, err %v", r.op, r.err)
		}
		got, err := ops.Get(ctx, "cc-two")
		if err != nil || len(got) != 2 || got[0].OperationID != "op-1" || got[0].Status != events.StatusCompleted ||
			got[1].OperationID != "op-2" || got[1].Status != events.StatusFailed {
			t.Fatalf("Get: %+v, %v", got, err)
		}
	})
	t.Run("stalled", func(t *testing.T) {
		emitOp(t, js, "cc-stall", "1", "op-s", events.StatusRunning)
		ch := awaitAsync(ops, ctx, "cc-stall")
		waitPending(t, ops, 1)
		emitOp(t, js, "cc-stall", "1", "op-s", events.StatusStalled)
		if r := recv(t, ch); r.err != nil || r.op.Status != events.StatusStalled {
			t.Fatalf("op %+v, err %v", r.op, r.err)
		}
	})
	t.Run("until running", func(t *testing.T) {
		ch := awaitAsync(ops, ctx, "cc-until", events.UntilStatus(events.StatusRunning))
		waitPending(t, ops, 1)
		emitOp(t, js, "cc-until", "1", "op-u", events.StatusNotStarted)
		emitOp(t, js, "cc-until", "1", "op-u", events.StatusRunning)
		if r := recv(t, ch); r.err != nil || r.op.Status != events.StatusRunning {
			t.Fatalf("op %+v, err %v", r.op, r.err)
		}
	})
	t.Run("deadline with the last status", func(t *testing.T) {
		emitOp(t, js, "cc-deadline", "1", "op-d", events.StatusRunning)
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := ops.Await(dctx, "cc-deadline")
		var ae *events.AwaitError
		if !errors.As(err, &ae) || !errors.Is(err, context.DeadlineExceeded) || ae.LastStatus() != events.StatusRunning || ae.Last.OperationID != "op-d" {
			t.Fatalf("err %v (%#v)", err, ae)
		}
		dctx2, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel2()
		_, err = ops.Await(dctx2, "cc-nothing-at-all")
		if !errors.As(err, &ae) || ae.Last != nil || ae.LastStatus() != "" {
			t.Fatalf("nothing seen: err %v", err)
		}
	})
	t.Run("invalid options", func(t *testing.T) {
		for name, opt := range map[string]events.AwaitOption{
			"no status":  events.UntilStatus(),
			"bad status": events.UntilStatus("done"),
			"empty id":   events.ForOperation(" "),
			"nil option": nil,
		} {
			if _, err := ops.Await(ctx, "cc", opt); !errors.Is(err, events.ErrInvalidOption) {
				t.Errorf("%s: %v", name, err)
			}
		}
		if _, err := ops.Await(ctx, "bad\x00cc"); !errors.Is(err, events.ErrClientContextInvalid) {
			t.Errorf("invalid clientContext: %v", err)
		}
	})
	if n := ops.Pending(); n != 0 {
		t.Fatalf("%d listeners left behind", n)
	}
}

// TestAwaitNeverMissesALateEvent: an event stored at any moment around the
// await's start (during its look-up, or just before its listener) is seen.
func TestAwaitNeverMissesALateEvent(t *testing.T) {
	_, js := resolvedJS(t)
	ops := newOperations(t, js)
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		cc := fmt.Sprintf("race-%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ch := awaitAsync(ops, ctx, cc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%3 == 0 {
				runtime.Gosched()
			}
			emitOp(t, js, cc, "1", "op", events.StatusCompleted)
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := <-ch; r.err != nil || r.op.Status != events.StatusCompleted {
				t.Errorf("%s: %+v %v", cc, r.op, r.err)
			}
		}()
	}
	wg.Wait()
}

// TestConcurrentAwaits: 1,000 awaits pending at once on one Operations, each
// released by its own operation's completion, share one consumer.
func TestConcurrentAwaits(t *testing.T) {
	_, js := resolvedJS(t)
	ops := newOperations(t, js)
	const n = 1000
	chans := make([]<-chan awaitResult, n)
	for i := range n {
		chans[i] = awaitAsync(ops, context.Background(), fmt.Sprintf("many-%d", i))
	}
	waitPending(t, ops, n)
	info, err := js.Stream(context.Background(), events.StreamResolved)
	if err != nil {
		t.Fatal(err)
	}
	if si, err := info.Info(context.Background()); err != nil || si.State.Consumers != 1 {
		t.Fatalf("consumers on %s: %+v, %v; want the feed's one", events.StreamResolved, si.State, err)
	}
	for i := range n {
		emitOp(t, js, fmt.Sprintf("many-%d", i), "1", "op", events.StatusCompleted)
	}
	for i, ch := range chans {
		if r := recv(t, ch); r.err != nil || r.op.ClientContext != fmt.Sprintf("many-%d", i) {
			t.Fatalf("await %d: %+v %v", i, r.op, r.err)
		}
	}
}

func TestGetNotFound(t *testing.T) {
	_, js := resolvedJS(t)
	ops := newOperations(t, js)
	if _, err := ops.Get(context.Background(), "nobody"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("err %v", err)
	}
	v, err := ops.Lookup(context.Background(), "nobody")
	if err != nil || v.Index != 0 || len(v.Operations) != 0 {
		t.Fatalf("Lookup: %+v, %v", v, err)
	}
	seq := emitOp(t, js, "somebody", "1", "op", events.StatusRunning)
	v, err = ops.Lookup(context.Background(), "somebody")
	if err != nil || v.Index != seq || len(v.Operations) != 1 || v.Select("").Status != events.StatusRunning || v.Select("OP") == nil || v.Select("other") != nil {
		t.Fatalf("Lookup: %+v, %v", v, err)
	}
}

// TestWatch: the stored events from the first, then live ones, in stream
// order, each once; an await pending on Close ends with ErrClosed.
func TestWatch(t *testing.T) {
	_, js := resolvedJS(t)
	ops := newOperations(t, js)
	var want []uint64
	want = append(want, emitOp(t, js, "cc-w", "1", "op-1", events.StatusNotStarted))
	emitOp(t, js, "cc-other", "1", "op-x", events.StatusRunning)
	want = append(want, emitOp(t, js, "cc-w", "1", "op-1", events.StatusRunning))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r, err := range ops.Watch(ctx, "cc-w") {
			if err != nil {
				t.Errorf("watch: %v", err)
				return
			}
			got = append(got, r.Seq)
			if len(got) == 2 {
				// Live from here: more than the listener's queue holds
				// arrives while this loop is slow.
				for i := range 600 {
					want = append(want, emitOp(t, js, "cc-w", fmt.Sprint(i+2), fmt.Sprintf("op-%d", i+2), events.StatusRunning))
				}
			}
			if len(got) == len(want) && len(got) > 2 {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("watch saw %d of %d", len(got), len(want))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("watch order:\n got %v\nwant %v", got, want)
	}

	ch := awaitAsync(ops, context.Background(), "cc-closed")
	waitPending(t, ops, 1)
	_ = ops.Close()
	if r := recv(t, ch); !errors.Is(r.err, events.ErrClosed) {
		t.Fatalf("after Close: %v", r.err)
	}
}

func TestNewOperationsOptions(t *testing.T) {
	_, js := resolvedJS(t)
	for name, tc := range map[string]struct {
		js   jetstream.JetStream
		opts []events.OperationsOption
	}{
		"nil JetStream": {nil, nil},
		"nil option":    {js, []events.OperationsOption{nil}},
		"nil handler":   {js, []events.OperationsOption{events.OperationsErrorHandler(nil)}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := events.NewOperations(tc.js, tc.opts...); !errors.Is(err, events.ErrInvalidOption) {
				t.Fatalf("err %v", err)
			}
		})
	}
}
