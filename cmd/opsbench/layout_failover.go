package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// failoverSettle is how long the failover phase lets the two workers run
// after the second took its first partition, before the kill: past the
// cooldown of a partition its first holder yielded (three pinned TTLs of 5s)
// and a heartbeat, so the kill finds the steady state of a long-running
// deployment.
const failoverSettle = 17 * time.Second

// failoverResult is what the failover phase measured.
type failoverResult struct {
	partition int
	gap       time.Duration // kill → first resolved event of the partition for a request started after the kill
	pinMoved  time.Duration // kill → the partition's consumer pinned to another client
	// inFlight: kill → the completion of the partition's last operation
	// accepted before the kill (0: all were completed before it).
	inFlight    time.Duration
	inFlightOps int // operations of the partition accepted before the kill and completed after it
}

// failoverPhase runs an ingest and two resolver processes (RESOLVER_WORKER_ID
// a and b, b started once a holds every partition) under a steady load of
// o.Rate operations per second. The first partition whose pin moves when b
// joins is b's: once settled, b is killed with SIGKILL, and the phase
// measures how long until events of that partition's keys, for requests
// started after the kill, reach a subscriber again.
func (l *layout) failoverPhase(ctx context.Context, run int) (failoverResult, error) {
	var r failoverResult
	b := l.b
	if err := b.reset(ctx); err != nil {
		return r, err
	}
	if _, err := b.ensure(ctx); err != nil {
		return r, err
	}
	tr, err := server.NewSubjectTransform(subjects.InTransform(l.o.Partitions))
	if err != nil {
		return r, err
	}
	partitionOf := func(cc string) int {
		s := tr.TransformSubject(inbound.InSubject(graphwire.KindOperation, events.Key(cc)))
		p, err := strconv.Atoi(strings.Split(s, ".")[2])
		if err != nil {
			return -1
		}
		return p
	}

	ienv, ibase, err := l.ingestEnv()
	if err != nil {
		return r, err
	}
	ip, err := l.ps.start("ingest", l.ps.bin("ingest"), nil, ienv)
	if err != nil {
		return r, err
	}
	defer ip.stop()
	if err := waitReady(ctx, ip, ibase+"/readyz", 30*time.Second); err != nil {
		return r, err
	}
	startWorker := func(id string) (*proc, error) {
		env, base, err := l.resolverEnv("RESOLVER_WORKER_ID=" + id)
		if err != nil {
			return nil, err
		}
		p, err := l.ps.start("resolver-"+id, l.ps.bin("resolver"), nil, env)
		if err != nil {
			return nil, err
		}
		return p, waitReady(ctx, p, base+"/readyz", 30*time.Second)
	}
	wa, err := startWorker("a" + strconv.Itoa(run))
	if err != nil {
		return r, err
	}
	defer wa.stop()

	// The subscriber: per partition, the latest request start (unix nanos)
	// among the events that arrived, and when.
	var mu sync.Mutex
	var watched = -1
	var after int64 // request start after which an event of watched counts
	var seenAt time.Time
	completedAt := make(map[string]time.Time) // completed event's arrival, per clientContext
	prefix := "fo" + strconv.Itoa(run) + "-"
	snc, err := nats.Connect(b.url, nats.Name("opsbench-subscriber"))
	if err != nil {
		return r, err
	}
	defer snc.Close()
	sub, err := snc.Subscribe(events.SubjectResolvedPrefix+">", func(m *nats.Msg) {
		now := time.Now()
		cc, err := cehdr.Decode(m.Header.Get(events.HeaderSubject))
		if err != nil {
			return
		}
		_, t0, ok := parseLatencyCC(cc, prefix, 1<<62)
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(m.Subject, "."+string(events.StatusCompleted)) {
			completedAt[cc] = now
		}
		if watched >= 0 && seenAt.IsZero() && t0 > after && partitionOf(cc) == watched {
			seenAt = now
		}
	})
	if err != nil {
		return r, err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return r, err
	}
	// watch arms the subscriber for partition p and requests started after
	// from, and returns a wait for the arrival.
	watch := func(p int, from time.Time) func(limit time.Duration) (time.Time, error) {
		mu.Lock()
		watched, after, seenAt = p, from.UnixNano(), time.Time{}
		mu.Unlock()
		return func(limit time.Duration) (time.Time, error) {
			deadline := time.Now().Add(limit)
			for {
				mu.Lock()
				at := seenAt
				mu.Unlock()
				if !at.IsZero() {
					return at, nil
				}
				if time.Now().After(deadline) {
					return time.Time{}, fmt.Errorf("no event of partition %d for a request after %v within %v", p, from.Format(time.StampMilli), limit)
				}
				select {
				case <-ctx.Done():
					return time.Time{}, ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
		}
	}

	// The load: o.Rate operations per second, each an action response and,
	// on its 202, the completion notification, until stopLoad.
	lctx, stopLoad := context.WithCancel(ctx)
	var accepted sync.Map // clientContext → time both requests of its operation were accepted
	var failed atomic.Int64
	var first firstErr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	post := func(url string, body []byte) bool {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err == nil {
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				err = fmt.Errorf("POST %s: HTTP %d %s", url, resp.StatusCode, rb)
			}
		}
		if err != nil && lctx.Err() == nil {
			failed.Add(1)
			first.set(err)
		}
		return err == nil
	}
	var wg sync.WaitGroup
	defer func() {
		stopLoad()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		interval := time.Second / time.Duration(max(1, l.o.Rate))
		start := time.Now()
		for i := 0; lctx.Err() == nil; i++ {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				select {
				case <-lctx.Done():
					return
				case <-time.After(d):
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := opID(0xfa110000|uint32(run), i)
				t0 := time.Now()
				cc := prefix + strconv.Itoa(i) + "-" + strconv.FormatInt(t0.UnixNano(), 10)
				if post(ibase+"/v1/responses", responseBody(nil, id, cc)) && post(ibase+"/v1/notifications", completionBody(nil, id, cc)) {
					accepted.Store(cc, time.Now())
				}
			}()
		}
	}()

	// a alone: wait until every partition is pinned (to a).
	pins0, err := l.waitPins(ctx, func(pins []string) bool { return !slices.Contains(pins, "") }, wa, 30*time.Second)
	if err != nil {
		return r, err
	}
	wb, err := startWorker("b" + strconv.Itoa(run))
	if err != nil {
		return r, err
	}
	defer wb.stop()
	moved := -1
	_, err = l.waitPins(ctx, func(pins []string) bool {
		for p, pin := range pins {
			if pin != "" && pin != pins0[p] {
				moved = p
				return true
			}
		}
		return false
	}, wb, 30*time.Second)
	if err != nil {
		return r, fmt.Errorf("the second worker took no partition: %w", err)
	}
	r.partition = moved
	// The first holder drains and unpins the partition; its last pull may
	// still take the pin for a moment before the new owner does. Let the two
	// workers settle, then the partition must flow.
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(failoverSettle):
	}
	if !wb.alive() || !wa.alive() {
		return r, wb.failed("or its peer exited before the kill")
	}
	pin1, err := l.pinOf(ctx, moved)
	if err != nil {
		return r, err
	}
	if pin1 == "" || pin1 == pins0[moved] {
		return r, fmt.Errorf("partition %d: pin %q after the settling, %q before the second worker", moved, pin1, pins0[moved])
	}
	if _, err := watch(moved, time.Now())(10 * time.Second); err != nil {
		return r, err
	}
	if pin, err := l.pinOf(ctx, moved); err != nil {
		return r, err
	} else if pin != pin1 {
		return r, fmt.Errorf("partition %d still moving before the kill (pin %s, then %s)", moved, pin1, pin)
	}
	killed := time.Now()
	wait := watch(moved, killed)
	wb.kill()
	pinned := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			pin, err := l.pinOf(ctx, moved)
			if err == nil && pin != "" && pin != pin1 {
				r.pinMoved = time.Since(killed)
				pinned <- nil
				return
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				pinned <- fmt.Errorf("partition %d not pinned anew within 2m of the kill: the killed worker did not hold it (last error: %v)", moved, err)
				return
			}
			time.Sleep(5 * time.Millisecond) // polling the server, nothing to await
		}
	}()
	seen, err := wait(2 * time.Minute)
	if perr := <-pinned; err == nil {
		err = perr
	}
	if err != nil {
		return r, err
	}
	r.gap = seen.Sub(killed)
	// What the killed worker may have held: every operation of the
	// partition accepted before the kill must complete, and soon (a worker
	// that left it for redelivery would take the ack wait, 30 s).
	var owed []string
	accepted.Range(func(k, v any) bool {
		if cc := k.(string); v.(time.Time).Before(killed) && partitionOf(cc) == moved {
			owed = append(owed, cc)
		}
		return true
	})
	// owedDone reports how many of owed have no completion yet, and of the
	// others how many completed after the kill, the last when.
	owedDone := func() (missing, after int, last time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, cc := range owed {
			at, ok := completedAt[cc]
			switch {
			case !ok:
				missing++
			case at.After(killed):
				after++
				last = maxTime(last, at)
			}
		}
		return missing, after, last
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		missing, after, last := owedDone()
		if missing == 0 {
			r.inFlightOps = after
			if after > 0 {
				r.inFlight = last.Sub(killed)
			}
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return r, fmt.Errorf("partition %d: %d of %d operations accepted before the kill not completed within 2m of it", moved, missing, len(owed))
		}
		time.Sleep(5 * time.Millisecond) // polling what the subscriber saw
	}
	stopLoad()
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return r, fmt.Errorf("%d requests failed; first: %v", f, first.get())
	}
	return r, nil
}

// pins returns the pin id of every resolver consumer ("" when unpinned).
func (l *layout) pins(ctx context.Context) ([]string, error) {
	out := make([]string, l.o.Partitions)
	for p := range out {
		pin, err := l.pinOf(ctx, p)
		if err != nil {
			return nil, err
		}
		out[p] = pin
	}
	return out, nil
}

// pinOf returns the pin id of partition p's consumer ("" when unpinned).
func (l *layout) pinOf(ctx context.Context, p int) (string, error) {
	c, err := l.b.ajs.Consumer(ctx, events.StreamIn, resolver.ConsumerName(p))
	if err != nil {
		return "", err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return "", err
	}
	for _, g := range info.PriorityGroups {
		if g.Group == resolver.PriorityGroup {
			return g.PinnedClientID, nil
		}
	}
	return "", nil
}

// waitPins polls the pins until cond holds, p exits or limit passes.
func (l *layout) waitPins(ctx context.Context, cond func([]string) bool, p *proc, limit time.Duration) ([]string, error) {
	deadline := time.Now().Add(limit)
	for {
		pins, err := l.pins(ctx)
		if err == nil && cond(pins) {
			return pins, nil
		}
		if !p.alive() {
			return nil, p.failed("exited")
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("resolver pins %q after %v (last error: %v)", pins, limit, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// maxTime returns the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
