package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/stacktest"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// resolvedJS runs an embedded server with the pipeline's streams.
func resolvedJS(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	srv, js := stacktest.Streams(t)
	return srv.URL(), js
}

var emitted atomic.Int64

// emit publishes a resolved event for (cc, status) as the resolver does and
// returns its id and stream sequence.
func emit(t *testing.T, js jetstream.JetStream, cc string, status events.Status) (string, uint64) {
	t.Helper()
	id := fmt.Sprintf("ev-%d-%s", emitted.Add(1), status.Token())
	e := event.New()
	e.SetID(id)
	e.SetType(subjects.ResolvedType(string(status)))
	e.SetSource(subjects.ResolvedSource("call-1"))
	e.SetSubject(cc)
	e.SetTime(time.Now())
	b, err := json.Marshal(events.ResolvedOperation{ClientContext: cc, CallID: "call-1", OperationID: "op-" + id,
		Status: status, Sources: []events.Source{}, ResolvedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetData(events.ContentTypeJSON, b); err != nil {
		t.Fatal(err)
	}
	m, err := events.EncodeMsg(events.ResolvedSubject(events.Key(cc), status), e)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.PublishMsg(context.Background(), m, jetstream.WithMsgID(id))
	if err != nil {
		t.Fatal(err)
	}
	return id, ack.Sequence
}

// got is what a handler saw of one delivery.
type got struct {
	id         string
	seq        uint64
	cc         string
	status     events.Status
	deliveries uint64
	subject    string
}

// running is a Subscriber's Run in the background.
type running struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	seen   []got
	errs   []error
}

// start runs a Subscriber with opts; handler (nil: accept all) decides each
// delivery after it is recorded.
func start(t *testing.T, js jetstream.JetStream, handler func(g got) error, opts ...events.SubscriberOption) *running {
	t.Helper()
	r := &running{t: t, done: make(chan error, 1)}
	opts = append(opts, events.OnError(func(err error) {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}))
	s, err := events.NewSubscriber(js, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- s.Run(ctx, func(_ context.Context, res *events.Resolved) error {
			g := got{id: res.Event.ID(), seq: res.Seq, cc: res.Data.ClientContext, status: res.Data.Status, deliveries: res.Deliveries, subject: res.Subject}
			if res.Event.Subject() != g.cc || res.Event.Type() != subjects.ResolvedType(string(g.status)) {
				t.Errorf("event %s: subject %q type %q, data says %q %q", g.id, res.Event.Subject(), res.Event.Type(), g.cc, g.status)
			}
			r.mu.Lock()
			r.seen = append(r.seen, g)
			r.mu.Unlock()
			if handler != nil {
				return handler(g)
			}
			return nil
		})
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *running) snapshot() ([]got, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen), slices.Clone(r.errs)
}

func (r *running) ids() []string {
	seen, _ := r.snapshot()
	var ids []string
	for _, g := range seen {
		ids = append(ids, g.id)
	}
	return ids
}

// waitFor waits until cond holds of what was seen, for up to 10s.
// waitLimit bounds the waits of these tests: generous, because the whole
// suite runs in parallel with the race detector on 2 cores.
const waitLimit = 30 * time.Second

// waitUntil polls cond until it holds, failing t after waitLimit.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitNewConsumer waits until COMMS_RESOLVED has a consumer not in before: a
// subscriber delivering new events only gets those published after it.
func waitNewConsumer(t *testing.T, js jetstream.JetStream, before map[string]bool) {
	t.Helper()
	waitUntil(t, "the subscriber's consumer", func() bool { return newConsumer(t, js, before, false) })
}

// newConsumer reports whether COMMS_RESOLVED has a consumer not in before
// (and, when pulling, with a pull request waiting).
func newConsumer(t *testing.T, js jetstream.JetStream, before map[string]bool, pulling bool) bool {
	for n := range stacktest.ResolvedConsumers(t, js) {
		if before[n] {
			continue
		}
		if !pulling {
			return true
		}
		c, err := js.Consumer(context.Background(), events.StreamResolved, n)
		if err == nil && c.CachedInfo().NumWaiting > 0 {
			return true
		}
	}
	return false
}

func (r *running) waitFor(what string, cond func(seen []got, errs []error) bool) {
	r.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		seen, errs := r.snapshot()
		if cond(seen, errs) {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; saw %d deliveries %v, errors %v", what, len(seen), seen, errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *running) waitN(n int) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%d deliveries", n), func(seen []got, _ []error) bool { return len(seen) >= n })
}

// stop cancels Run and returns its error. Idempotent.
func (r *running) stop() error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(15 * time.Second):
		r.t.Fatal("Run did not return after its context ended")
		return nil
	}
}

func TestNewSubscriberOptions(t *testing.T) {
	_, js := resolvedJS(t)
	invalid := []struct {
		name string
		opt  events.SubscriberOption
	}{
		{"empty durable", events.Durable("")},
		{"durable with a dot", events.Durable("a.b")},
		{"durable with a space", events.Durable("a b")},
		{"durable with a wildcard", events.Durable("a*")},
		{"no status", events.FilterStatus()},
		{"unknown status", events.FilterStatus("done")},
		{"empty clientContext", events.FilterClientContext("")},
		{"no clientContext", events.FilterClientContext()},
		{"clientContext too long", events.FilterClientContext(strings.Repeat("x", events.MaxClientContextLen+1))},
		{"clientContext with a control character", events.FilterClientContext("a\nb")},
		{"sequence 0", events.StartAtSequence(0)},
		{"zero time", events.StartAtTime(time.Time{})},
		{"ack wait under 1s", events.AckWait(time.Millisecond)},
		{"max deliver 0", events.MaxDeliver(0)},
		{"max deliver -2", events.MaxDeliver(-2)},
		{"no backoff", events.Backoff()},
		{"zero backoff", events.Backoff(time.Second, 0)},
		{"concurrency 0", events.Concurrency(0)},
		{"negative drain timeout", events.DrainTimeout(-time.Second)},
		{"nil OnError", events.OnError(nil)},
		{"nil option", nil},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := events.NewSubscriber(js, tc.opt); !errors.Is(err, events.ErrInvalidOption) {
				t.Fatalf("err = %v, want ErrInvalidOption", err)
			}
		})
	}
	t.Run("two starts", func(t *testing.T) {
		_, err := events.NewSubscriber(js, events.DeliverAll(), events.StartAtSequence(3))
		if !errors.Is(err, events.ErrInvalidOption) || !strings.Contains(err.Error(), "DeliverAll and StartAtSequence") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("nil JetStream", func(t *testing.T) {
		if _, err := events.NewSubscriber(nil); !errors.Is(err, events.ErrInvalidOption) {
			t.Fatalf("err = %v", err)
		}
	})

	weird := "a.b *>"
	filters := []struct {
		name string
		opts []events.SubscriberOption
		want []string
	}{
		{"no filter", nil, nil},
		{"statuses in any casing", []events.SubscriberOption{events.FilterStatus("Completed", events.StatusFailed, "COMPLETED")},
			[]string{"comms.resolved.*.completed", "comms.resolved.*.failed"}},
		{"a clientContext", []events.SubscriberOption{events.FilterClientContext("cc-1")}, []string{"comms.resolved.cc-1.*"}},
		{"a clientContext that could widen", []events.SubscriberOption{events.FilterClientContext(weird)},
			[]string{"comms.resolved." + events.Key(weird) + ".*"}},
		{"clientContexts and statuses", []events.SubscriberOption{events.FilterClientContext("x", "y"), events.FilterClientContext("x"), events.FilterStatus(events.StatusRunning)},
			[]string{"comms.resolved.x.running", "comms.resolved.y.running"}},
	}
	for _, tc := range filters {
		t.Run(tc.name, func(t *testing.T) {
			s, err := events.NewSubscriber(js, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			got := s.FilterSubjects()
			if !slices.Equal(got, tc.want) {
				t.Fatalf("filters %q, want %q", got, tc.want)
			}
			for _, f := range got {
				if strings.Count(f, ".") != 3 || strings.Contains(f, ">") {
					t.Fatalf("filter %q does not have exactly the four tokens", f)
				}
			}
			cfg := s.ConsumerConfig()
			if cfg.DeliverPolicy != jetstream.DeliverNewPolicy || cfg.AckPolicy != jetstream.AckExplicitPolicy ||
				cfg.MaxDeliver != events.DefaultMaxDeliver || cfg.AckWait != events.DefaultAckWait {
				t.Fatalf("defaults: %+v", cfg)
			}
		})
	}
}

// TestSubscriberFilters: each subscriber gets exactly the events its filters
// select, however odd the clientContext.
func TestSubscriberFilters(t *testing.T) {
	_, js := resolvedJS(t)
	ccs := []string{"cc-1", "cc-2", "a.b", "a", "b", "*", ">", "a.>", "with space", "x y.*", "日本語 cc"}
	type pub struct {
		id     string
		cc     string
		status events.Status
	}
	var all []pub
	for _, cc := range ccs {
		for _, st := range []events.Status{events.StatusRunning, events.StatusCompleted} {
			id, _ := emit(t, js, cc, st)
			all = append(all, pub{id, cc, st})
		}
	}
	id, _ := emit(t, js, "cc-2", events.StatusFailed)
	all = append(all, pub{id, "cc-2", events.StatusFailed})
	id, _ = emit(t, js, "cc-3", events.StatusStalled)
	all = append(all, pub{id, "cc-3", events.StatusStalled})
	want := func(keep func(p pub) bool) []string {
		var ids []string
		for _, p := range all {
			if keep(p) {
				ids = append(ids, p.id)
			}
		}
		return ids
	}
	cases := []struct {
		name string
		opts []events.SubscriberOption
		want []string
	}{
		{"everything", nil, want(func(pub) bool { return true })},
		{"terminal statuses", []events.SubscriberOption{events.FilterStatus(events.StatusCompleted, events.StatusFailed)},
			want(func(p pub) bool { return p.status.Terminal() })},
		{"stalled", []events.SubscriberOption{events.FilterStatus(events.StatusStalled)}, want(func(p pub) bool { return p.status == events.StatusStalled })},
		{"one clientContext", []events.SubscriberOption{events.FilterClientContext("cc-2")}, want(func(p pub) bool { return p.cc == "cc-2" })},
		{"two clientContexts, one status", []events.SubscriberOption{events.FilterClientContext("cc-1", "cc-2"), events.FilterStatus(events.StatusCompleted)},
			want(func(p pub) bool { return (p.cc == "cc-1" || p.cc == "cc-2") && p.status == events.StatusCompleted })},
	}
	for _, cc := range ccs[2:] {
		cases = append(cases, struct {
			name string
			opts []events.SubscriberOption
			want []string
		}{fmt.Sprintf("clientContext %q", cc), []events.SubscriberOption{events.FilterClientContext(cc)}, want(func(p pub) bool { return p.cc == cc })})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t, js, nil, append(tc.opts, events.DeliverAll())...)
			r.waitN(len(tc.want))
			time.Sleep(100 * time.Millisecond) // would anything else come?
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			if got := r.ids(); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
			seen, _ := r.snapshot()
			for _, g := range seen {
				if g.subject != events.ResolvedSubject(events.Key(g.cc), g.status) || g.seq == 0 || g.deliveries != 1 {
					t.Fatalf("delivery %+v", g)
				}
			}
		})
	}
}

// TestSubscriberStartPositions: new events only by default; all, from a
// sequence and from a time on request (replay).
func TestSubscriberStartPositions(t *testing.T) {
	_, js := resolvedJS(t)
	var before []string
	var seqs []uint64
	for i := 0; i < 4; i++ {
		id, seq := emit(t, js, fmt.Sprintf("cc-%d", i), events.StatusCompleted)
		before, seqs = append(before, id), append(seqs, seq)
	}
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	later, _ := emit(t, js, "cc-later", events.StatusFailed)

	cases := []struct {
		name string
		opts []events.SubscriberOption
		want []string
	}{
		{"all", []events.SubscriberOption{events.DeliverAll()}, append(slices.Clone(before), later)},
		{"from a sequence", []events.SubscriberOption{events.StartAtSequence(seqs[2])}, []string{before[2], before[3], later}},
		{"from a sequence with a filter", []events.SubscriberOption{events.StartAtSequence(seqs[1]), events.FilterStatus(events.StatusFailed)}, []string{later}},
		{"from a time", []events.SubscriberOption{events.StartAtTime(mid)}, []string{later}},
		{"from a time before everything", []events.SubscriberOption{events.StartAtTime(mid.Add(-time.Hour))}, append(slices.Clone(before), later)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t, js, nil, tc.opts...)
			r.waitN(len(tc.want))
			time.Sleep(100 * time.Millisecond)
			_ = r.stop()
			if got := r.ids(); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
	t.Run("new only, by default", func(t *testing.T) {
		before := stacktest.ResolvedConsumers(t, js)
		r := start(t, js, nil)
		waitNewConsumer(t, js, before)
		fresh, _ := emit(t, js, "cc-fresh", events.StatusRunning)
		r.waitN(1)
		time.Sleep(100 * time.Millisecond)
		_ = r.stop()
		if got := r.ids(); !slices.Equal(got, []string{fresh}) {
			t.Fatalf("got %v, want only %s", got, fresh)
		}
	})
}

// TestDurableSharedByReplicas: two replicas of one service bind the same
// durable; each event is handled once across both, both do part of the work,
// and a restarted replica resumes where the service stopped, whatever start
// option it passes.
func TestDurableSharedByReplicas(t *testing.T) {
	_, js := resolvedJS(t)
	var mu sync.Mutex
	handled := map[string]int{}
	by := map[int]int{}
	replica := func(n int, opts ...events.SubscriberOption) *running {
		return start(t, js, func(g got) error {
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			handled[g.id]++
			by[n]++
			mu.Unlock()
			return nil
		}, append([]events.SubscriberOption{events.Durable("billing"), events.Concurrency(2)}, opts...)...)
	}
	r1, r2 := replica(1), replica(2)
	// Both replicas must be pulling before the events come, or on a loaded
	// machine the first one up takes them all before the other has started.
	waitUntil(t, "both replicas pulling", func() bool {
		c, err := js.Consumer(context.Background(), events.StreamResolved, "billing")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumWaiting >= 2
	})
	const n = 60
	var want []string
	for i := 0; i < n; i++ {
		id, _ := emit(t, js, fmt.Sprintf("cc-%d", i), events.StatusCompleted)
		want = append(want, id)
	}
	waitUntil(t, fmt.Sprintf("%d events handled", n), func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) >= n })
	time.Sleep(100 * time.Millisecond)
	if err := r1.stop(); err != nil {
		t.Fatal(err)
	}
	if err := r2.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, id := range want {
		if handled[id] != 1 {
			t.Errorf("event %s handled %d times", id, handled[id])
		}
	}
	if by[1] == 0 || by[2] == 0 {
		t.Errorf("the replicas did not share the work: %v", by)
	}
	mu.Unlock()

	// Restart: the durable resumes after its last ack, even with another
	// start option (which applies only to a new durable).
	after, _ := emit(t, js, "cc-after", events.StatusFailed)
	r3 := replica(3, events.StartAtTime(time.Now().Add(-time.Hour)))
	r3.waitN(1)
	time.Sleep(100 * time.Millisecond)
	if err := r3.stop(); err != nil {
		t.Fatal(err)
	}
	if got := r3.ids(); !slices.Equal(got, []string{after}) {
		t.Fatalf("restarted replica got %v, want only %s", got, after)
	}
	info, err := js.Consumer(context.Background(), events.StreamResolved, "billing")
	if err != nil {
		t.Fatalf("the durable is gone after Run: %v", err)
	}
	if ci := info.CachedInfo(); ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Fatalf("durable left with %d unacked, %d pending", ci.NumAckPending, ci.NumPending)
	}
}

// TestHandlerFailures: an error or a panic naks the event, which comes again
// after the backoff while other events go on; after MaxDeliver the event is
// given up and reported; undecodable messages are terminated and reported.
func TestHandlerFailures(t *testing.T) {
	cases := []struct {
		name string
		// fail decides delivery number d of the flaky event.
		fail            func(d uint64) error
		maxDeliver      int
		wantDeliveries  int
		wantErr         error
		wantEventuallOK bool
	}{
		{"error twice then success", func(d uint64) error {
			if d <= 2 {
				return errors.New("downstream unavailable")
			}
			return nil
		}, 5, 3, nil, true},
		{"panic once", func(d uint64) error {
			if d == 1 {
				panic("boom")
			}
			return nil
		}, 5, 2, events.ErrHandlerPanic, true},
		{"always failing, given up after MaxDeliver", func(uint64) error { return errors.New("poison for us") }, 3, 3, events.ErrDeliveriesExhausted, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, js := resolvedJS(t)
			flaky, _ := emit(t, js, "flaky", events.StatusCompleted)
			var times []time.Time
			r := start(t, js, func(g got) error {
				if g.id != flaky {
					return nil
				}
				times = append(times, time.Now()) // Concurrency 1: one handler at a time
				return tc.fail(g.deliveries)
			}, events.DeliverAll(), events.MaxDeliver(tc.maxDeliver), events.Backoff(50*time.Millisecond, 100*time.Millisecond))
			other, _ := emit(t, js, "other", events.StatusCompleted)
			r.waitFor("the flaky event's deliveries", func(seen []got, _ []error) bool {
				n := 0
				for _, g := range seen {
					if g.id == flaky {
						n++
					}
				}
				return n >= tc.wantDeliveries
			})
			time.Sleep(300 * time.Millisecond) // no more deliveries than expected
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			seen, errs := r.snapshot()
			var deliveries []uint64
			otherSeen := false
			for _, g := range seen {
				switch g.id {
				case flaky:
					deliveries = append(deliveries, g.deliveries)
				case other:
					otherSeen = true
				}
			}
			if len(deliveries) != tc.wantDeliveries || deliveries[0] != 1 || deliveries[len(deliveries)-1] != uint64(tc.wantDeliveries) {
				t.Fatalf("flaky event delivered as %v, want %d deliveries", deliveries, tc.wantDeliveries)
			}
			if !otherSeen || seen[1].id != other {
				t.Fatalf("the other event waited for the flaky one: %v", seen)
			}
			if len(times) > 1 && times[1].Sub(times[0]) < 40*time.Millisecond {
				t.Fatalf("redelivered after %v, before the backoff", times[1].Sub(times[0]))
			}
			if tc.wantErr == nil && len(errs) > 0 {
				t.Fatalf("errors reported: %v", errs)
			}
			if tc.wantErr != nil && (len(errs) != 1 || !errors.Is(errs[0], tc.wantErr)) {
				t.Fatalf("errors reported: %v, want one %v", errs, tc.wantErr)
			}
		})
	}

	t.Run("undecodable messages", func(t *testing.T) {
		_, js := resolvedJS(t)
		ctx := context.Background()
		if _, err := js.Publish(ctx, events.ResolvedSubject("junk", events.StatusCompleted), []byte("not a CloudEvent")); err != nil {
			t.Fatal(err)
		}
		e := event.New()
		e.SetID("x")
		e.SetType("io.example.other")
		e.SetSource("/x")
		m, _ := events.EncodeMsg(events.ResolvedSubject("other-type", events.StatusCompleted), e)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		e.SetType(subjects.ResolvedType(string(events.StatusCompleted)))
		_ = e.SetData(events.ContentTypeJSON, []byte(`{"status":`))
		m, _ = events.EncodeMsg(events.ResolvedSubject("bad-data", events.StatusCompleted), e)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		good, _ := emit(t, js, "good", events.StatusCompleted)
		r := start(t, js, nil, events.Durable("checker"), events.DeliverAll(), events.Backoff(10*time.Millisecond))
		r.waitFor("three reports", func(seen []got, errs []error) bool { return len(seen) == 1 && len(errs) == 3 })
		time.Sleep(200 * time.Millisecond)
		_ = r.stop()
		seen, errs := r.snapshot()
		if len(seen) != 1 || seen[0].id != good {
			t.Fatalf("handled %v", seen)
		}
		for i, want := range []error{events.ErrNotCloudEvent, events.ErrInvalidPayload, events.ErrInvalidJSON} {
			if !errors.Is(errs[i], events.ErrUndecodable) || !errors.Is(errs[i], want) {
				t.Errorf("report %d: %v, want ErrUndecodable and %v", i, errs[i], want)
			}
		}
		cons, _ := js.Consumer(ctx, events.StreamResolved, "checker")
		if ci := cons.CachedInfo(); ci.NumAckPending != 0 || ci.AckFloor.Stream != 4 {
			t.Fatalf("consumer: %d unacked, ack floor %d", ci.NumAckPending, ci.AckFloor.Stream)
		}
	})
}

// TestConcurrencyKeepsKeyOrder: with several handlers at once, one key's
// events are handled one at a time and in stream order.
func TestConcurrencyKeepsKeyOrder(t *testing.T) {
	_, js := resolvedJS(t)
	statuses := []events.Status{events.StatusNotStarted, events.StatusRunning, events.StatusCompleted}
	const keys = 12
	for _, st := range statuses {
		for k := 0; k < keys; k++ {
			emit(t, js, fmt.Sprintf("cc-%d", k), st)
		}
	}
	var mu sync.Mutex
	inFlight := map[string]bool{}
	active, peak := 0, 0
	r := start(t, js, func(g got) error {
		mu.Lock()
		if inFlight[g.cc] {
			t.Errorf("two events of %s at once", g.cc)
		}
		inFlight[g.cc] = true
		active++
		peak = max(peak, active)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		inFlight[g.cc] = false
		active--
		mu.Unlock()
		return nil
	}, events.DeliverAll(), events.Concurrency(6))
	r.waitN(keys * len(statuses))
	_ = r.stop()
	seen, _ := r.snapshot()
	order := map[string][]events.Status{}
	for _, g := range seen {
		order[g.cc] = append(order[g.cc], g.status)
	}
	for k := 0; k < keys; k++ {
		if got := order[fmt.Sprintf("cc-%d", k)]; !slices.Equal(got, statuses) {
			t.Errorf("cc-%d handled as %v", k, got)
		}
	}
	if peak < 2 {
		t.Errorf("at most %d handler at once with Concurrency(6)", peak)
	}
}

// TestCleanShutdown: when the context ends, the running handler finishes and
// its event is acked; events received but not started go back at once (not
// after AckWait) and the next run gets them; Run returns only then.
func TestCleanShutdown(t *testing.T) {
	_, js := resolvedJS(t)
	var ids []string
	for i := 0; i < 5; i++ {
		id, _ := emit(t, js, "cc", events.StatusRunning)
		ids = append(ids, id)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var handlerCtxErr atomic.Value
	s, err := events.NewSubscriber(js, events.Durable("shutdown"), events.DeliverAll(), events.AckWait(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	first := atomic.Bool{}
	go func() {
		done <- s.Run(ctx, func(hctx context.Context, r *events.Resolved) error {
			if first.CompareAndSwap(false, true) {
				close(entered)
				<-release
				handlerCtxErr.Store(fmt.Sprint(hctx.Err()))
				return nil
			}
			t.Errorf("a handler started after the context ended: %s", r.Event.ID())
			return nil
		})
	}()
	<-entered
	// More than the running handler's event delivered: some are buffered.
	waitUntil(t, "the next events buffered", func() bool {
		cons, err := js.Consumer(context.Background(), events.StreamResolved, "shutdown")
		return err == nil && cons.CachedInfo().NumAckPending >= 2
	})
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a handler was running", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := s.Run(context.Background(), func(context.Context, *events.Resolved) error { return nil }); !errors.Is(err, events.ErrAlreadyRunning) {
		t.Fatalf("a second Run: %v", err)
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its handler did")
	}
	if e := handlerCtxErr.Load(); e != "<nil>" {
		t.Fatalf("the in-flight handler's context was cancelled at once: %v", e)
	}
	// Run flushed the ack to the server; the consumer applies acks from its
	// own queue, so its ack floor may lag the flush by a moment.
	waitUntil(t, "the finished handler's event to be acked", func() bool {
		cons, err := js.Consumer(context.Background(), events.StreamResolved, "shutdown")
		return err == nil && cons.CachedInfo().AckFloor.Consumer >= 1
	})
	// The rest comes at once to the next run, far within AckWait.
	startAt := time.Now()
	r := start(t, js, nil, events.Durable("shutdown"))
	r.waitN(4)
	if d := time.Since(startAt); d > 5*time.Second {
		t.Fatalf("the buffered events waited %v: they were not handed back", d)
	}
	_ = r.stop()
	if got := r.ids(); !slices.Equal(got, ids[1:]) {
		t.Fatalf("next run got %v, want %v", got, ids[1:])
	}

	t.Run("drain timeout cancels the handler's context", func(t *testing.T) {
		emit(t, js, "slow", events.StatusRunning)
		entered := make(chan struct{})
		s, _ := events.NewSubscriber(js, events.FilterClientContext("slow"), events.DeliverAll(), events.DrainTimeout(100*time.Millisecond))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- s.Run(ctx, func(hctx context.Context, _ *events.Resolved) error {
				close(entered)
				<-hctx.Done()
				return hctx.Err()
			})
		}()
		<-entered
		stopped := time.Now()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d := time.Since(stopped); d < 90*time.Millisecond || d > 5*time.Second {
			t.Fatalf("Run returned %v after the context ended", d)
		}
	})
}

// TestRunLifecycle: an ephemeral consumer is deleted when Run returns; Run
// says why it cannot run.
func TestRunLifecycle(t *testing.T) {
	url, js := resolvedJS(t)
	ctx := context.Background()
	stream, _ := js.Stream(ctx, events.StreamResolved)
	consumers := func() int {
		n := 0
		for range stream.ConsumerNames(ctx).Name() {
			n++
		}
		return n
	}
	r := start(t, js, nil)
	waitNewConsumer(t, js, nil)
	if n := consumers(); n != 1 {
		t.Fatalf("%d consumers while running", n)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n := consumers(); n != 0 {
		t.Fatalf("%d consumers left after Run", n)
	}

	t.Run("nil handler", func(t *testing.T) {
		s, _ := events.NewSubscriber(js)
		if err := s.Run(ctx, nil); !errors.Is(err, events.ErrInvalidOption) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no stream", func(t *testing.T) {
		srv := natstest.Run(t)
		_, bare := natstest.Connect(t, srv.URL())
		s, _ := events.NewSubscriber(bare)
		err := s.Run(ctx, func(context.Context, *events.Resolved) error { return nil })
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("err = %v, want ErrStreamNotFound", err)
		}
	})
	t.Run("connection closed", func(t *testing.T) {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		own, _ := jetstream.New(nc)
		s, _ := events.NewSubscriber(own)
		done := make(chan error, 1)
		before := stacktest.ResolvedConsumers(t, js)
		go func() { done <- s.Run(ctx, func(context.Context, *events.Resolved) error { return nil }) }()
		waitUntil(t, "the subscriber pulling", func() bool { return newConsumer(t, js, before, true) })
		nc.Close()
		select {
		case err := <-done:
			if !errors.Is(err, events.ErrClosed) {
				t.Fatalf("err = %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run went on after its connection closed")
		}
	})
}
