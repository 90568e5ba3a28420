package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/eventstest"
	"github.com/commsops/commsops/pkg/events"
)

// awaitResult is what the await phase measured.
type awaitResult struct {
	n int
	// heapPerAwait and stackPerAwait: what one pending await holds (its
	// listener and view on the heap, its goroutine's stack: the caller's).
	heapPerAwait, stackPerAwait float64
	// latency: from just before the resolved event is published to the
	// return of the Await it releases.
	latency []time.Duration
	offered float64
	// consumers: COMMS_RESOLVED's consumers while every await was pending.
	consumers int
}

// liveBytes returns the heap in use and the goroutine stacks after a full
// collection.
func liveBytes() (heap, stacks uint64) {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// benchAwait holds o.Awaits awaits pending on one events.Operations (a bot
// process of its own connection), measures their memory, then releases them
// at o.Rate completions per second by storing each one's resolved event as
// the resolver does, and measures store → Await return.
func benchAwait(ctx context.Context, b *bench, run int) (awaitResult, error) {
	n := b.o.Awaits
	res := awaitResult{n: n}
	if err := b.reset(ctx); err != nil {
		return res, err
	}
	if _, err := b.ensure(ctx); err != nil {
		return res, err
	}
	botNC, botJS, err := b.connect("opsbench-bot")
	if err != nil {
		return res, err
	}
	defer botNC.Close()
	pubNC, pubJS, err := b.connect("opsbench-resolver")
	if err != nil {
		return res, err
	}
	defer pubNC.Close()
	ops, err := events.NewOperations(botJS)
	if err != nil {
		return res, err
	}
	defer ops.Close()

	heap0, stack0 := liveBytes()
	actx, cancel := context.WithTimeout(ctx, timeLimit(n)+time.Duration(n/b.o.Rate+30)*time.Second)
	defer cancel()
	prefix := "await-" + strconv.Itoa(run) + "-"
	returned := make([]time.Time, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op, err := ops.Await(actx, prefix+strconv.Itoa(i))
			returned[i] = time.Now()
			if err == nil && op.Status != events.StatusCompleted {
				err = fmt.Errorf("await %d returned %s", i, op.Status)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	for ops.Pending() < n {
		if actx.Err() != nil {
			return res, fmt.Errorf("awaits pending: %d of %d", ops.Pending(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	heap1, stack1 := liveBytes()
	res.heapPerAwait = float64(int64(heap1)-int64(heap0)) / float64(n)
	res.stackPerAwait = float64(int64(stack1)-int64(stack0)) / float64(n)
	if s, err := pubJS.Stream(ctx, events.StreamResolved); err == nil {
		if info, err := s.Info(ctx); err == nil {
			res.consumers = info.State.Consumers
		}
	}

	sent := make([]time.Time, n)
	msgs := make([]*nats.Msg, n)
	for i := range n {
		m, err := eventstest.ResolvedMsg(prefix+strconv.Itoa(i), "1", "op-"+strconv.Itoa(i), events.StatusCompleted)
		if err != nil {
			return res, err
		}
		msgs[i] = m
	}
	interval := time.Second / time.Duration(b.o.Rate)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		sent[i] = time.Now()
		if _, err := pubJS.PublishMsg(actx, msgs[i], jetstream.WithMsgID(msgs[i].Header.Get(events.HeaderID))); err != nil {
			return res, fmt.Errorf("store resolved event %d: %w", i, err)
		}
	}
	res.offered = float64(n) / time.Since(start).Seconds()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return res, errors.Join(err, fmt.Errorf("and %d more", len(errs)))
	}
	res.latency = make([]time.Duration, n)
	for i := range n {
		res.latency[i] = returned[i].Sub(sent[i])
	}
	return res, nil
}
