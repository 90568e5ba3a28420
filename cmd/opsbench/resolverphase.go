package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// resolverResult is what the resolver phase measured and verified.
type resolverResult struct {
	inputMsgs   int
	events      int
	msgsPerSec  float64       // input messages / time until every expected event is in COMMS_RESOLVED
	drainedRate float64       // input messages / time until every input message is acked
	cpuPerMsg   time.Duration // process CPU per input message until every expected event is stored
	// JetStream writes the resolver made per input message: state writes
	// (KV), resolved events and stall schedules. The relay makes one.
	storesPerMsg, kvPerMsg, eventsPerMsg, schedPerMsg float64
	verdict                                           verdict
}

// benchResolver preloads COMMS_IN with the generated traffic through an
// events.Publisher, starts one resolver.Worker, times it until every event
// the model expects is in COMMS_RESOLVED (and, separately, until every input
// message is acked), then checks COMMS_RESOLVED against the model.
func benchResolver(ctx context.Context, b *bench, ops []*traffic.Operation, seq []traffic.Evidence, log *slog.Logger) (resolverResult, error) {
	var r resolverResult
	want, nEvents := traffic.Model(seq)
	r.events = nEvents
	if err := b.reset(ctx); err != nil {
		return r, err
	}
	layout, err := b.ensure(ctx)
	if err != nil {
		return r, err
	}
	if r.inputMsgs, err = b.preloadSeq(ctx, seq); err != nil {
		return r, err
	}
	nc, js, err := b.connect("opsbench-resolver")
	if err != nil {
		return r, err
	}
	defer nc.Close()
	kv, err := js.KeyValue(ctx, events.BucketState)
	if err != nil {
		return r, err
	}
	w, err := resolver.NewWorker(ctx, js, kv, layout.Partitions, resolver.Config{WorkerID: "opsbench", CommitDelay: b.o.CommitDelay}, log)
	if err != nil {
		return r, err
	}
	// The consumers exist before the clock starts, as the relay's does; Start
	// finds them unchanged.
	for p := range layout.Partitions {
		if _, err := b.ajs.CreateOrUpdateConsumer(ctx, events.StreamIn, w.ConsumerConfig(p)); err != nil {
			return r, err
		}
	}
	runtime.GC()
	b.profile.start("resolver")
	t := startTimer()
	start := t.s.at
	if err := w.Start(ctx); err != nil {
		b.profile.stop("resolver")
		return r, err
	}
	limit := timeLimit(r.inputMsgs)
	err = b.waitMsgs(ctx, events.StreamResolved, nEvents, limit)
	elEvents, cpu := t.stop()
	if err == nil {
		err = b.waitDrained(ctx, layout.Partitions, limit)
	}
	elDrained := time.Since(start)
	b.profile.stop("resolver")
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if stopErr := w.Stop(stopCtx); err == nil && stopErr != nil {
		err = fmt.Errorf("resolver stop: %w", stopErr)
	}
	if err != nil {
		return r, err
	}
	r.msgsPerSec = float64(r.inputMsgs) / elEvents.Seconds()
	r.drainedRate = float64(r.inputMsgs) / elDrained.Seconds()
	r.cpuPerMsg = cpu / time.Duration(r.inputMsgs)
	// Every write takes a stream sequence, so the last sequences count them
	// (the KV bucket keeps one value per key, but its sequence goes on).
	kvSt, err := b.streamState(ctx, "KV_"+events.BucketState)
	if err != nil {
		return r, err
	}
	inSt, err := b.streamState(ctx, events.StreamIn)
	if err != nil {
		return r, err
	}
	resSt, err := b.streamState(ctx, events.StreamResolved)
	if err != nil {
		return r, err
	}
	n := float64(r.inputMsgs)
	r.kvPerMsg = float64(kvSt.LastSeq) / n
	r.eventsPerMsg = float64(resSt.LastSeq) / n
	r.schedPerMsg = float64(inSt.LastSeq-uint64(r.inputMsgs)) / n
	r.storesPerMsg = r.kvPerMsg + r.eventsPerMsg + r.schedPerMsg
	r.verdict, err = verify(ctx, b, ops, want)
	return r, err
}

// verdict is the outcome of checking COMMS_RESOLVED against the model.
type verdict struct {
	ops, events, violations int
	examples                []string
}

func (v verdict) String() string {
	return fmt.Sprintf("verified: %d operations, %d events, %d violations", v.ops, v.events, v.violations)
}

func (v *verdict) violate(format string, args ...any) {
	v.violations++
	if len(v.examples) < 10 {
		v.examples = append(v.examples, fmt.Sprintf(format, args...))
	}
}

// verify reads all of COMMS_RESOLVED with an ordered consumer and checks what
// the contract promises: every event a valid resolved CloudEvent on its
// subject; ids unique; exactly one event per (operation, status); statuses
// strictly forward per operation in stream order; every operation resolved
// (terminal); the statuses of each operation exactly those of the model; no
// event for an operation that was never sent; nothing dead-lettered.
func verify(ctx context.Context, b *bench, ops []*traffic.Operation, want map[*traffic.Operation][]events.Status) (verdict, error) {
	v := verdict{ops: len(ops)}
	total, _, err := b.streamMsgs(ctx, events.StreamResolved)
	if err != nil {
		return v, err
	}
	oc, err := b.ajs.OrderedConsumer(ctx, events.StreamResolved, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return v, err
	}
	byOp := make(map[string]*traffic.Operation, len(ops))
	for _, op := range ops {
		byOp[op.CC+"|"+op.ID] = op
	}
	got := make(map[*traffic.Operation][]events.Status, len(ops))
	ids := make(map[string]bool, total)
	read := uint64(0)
	for read < total {
		batch, err := oc.Fetch(int(min(1000, total-read)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return v, fmt.Errorf("read %s: %w", events.StreamResolved, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			read++
			checkEvent(&v, m, byOp, got, ids)
		}
		if err := batch.Error(); err != nil {
			return v, fmt.Errorf("read %s: %w", events.StreamResolved, err)
		}
		if n == 0 {
			return v, fmt.Errorf("read %s: %d of %d events", events.StreamResolved, read, total)
		}
	}
	v.events = len(ids)
	for _, op := range ops {
		g, w := got[op], want[op]
		if !slices.Equal(g, w) {
			v.violate("operation %s (clientContext %s): emitted %v, the model says %v", op.ID, op.CC, g, w)
			continue
		}
		if len(g) == 0 || !g[len(g)-1].Terminal() {
			v.violate("operation %s (clientContext %s) not resolved: %v", op.ID, op.CC, g)
		}
	}
	if dlq, _, err := b.streamMsgs(ctx, events.StreamDeadLetter); err != nil {
		return v, err
	} else if dlq > 0 {
		v.violate("%d input messages were dead-lettered", dlq)
	}
	if v.violations > 0 {
		return v, fmt.Errorf("%w: %s:\n  %s", errViolations, v, strings.Join(v.examples, "\n  "))
	}
	return v, nil
}

func checkEvent(v *verdict, m jetstream.Msg, byOp map[string]*traffic.Operation, got map[*traffic.Operation][]events.Status, ids map[string]bool) {
	e, err := events.DecodeMsg(m.Headers(), m.Data())
	if err != nil {
		v.violate("%s: not a CloudEvent: %v", m.Subject(), err)
		return
	}
	var r events.ResolvedOperation
	if err := json.Unmarshal(e.Data(), &r); err != nil {
		v.violate("%s: data is not a resolved operation: %v", m.Subject(), err)
		return
	}
	if ids[e.ID()] {
		v.violate("event id %s appears twice", e.ID())
	}
	ids[e.ID()] = true
	if wantSubj := events.ResolvedSubject(events.Key(r.ClientContext), r.Status); m.Subject() != wantSubj {
		v.violate("event %s on %s, want %s", e.ID(), m.Subject(), wantSubj)
	}
	if e.Type() != subjects.ResolvedType(string(r.Status)) || e.Subject() != r.ClientContext {
		v.violate("event %s: type %q subject %q for status %s of %q", e.ID(), e.Type(), e.Subject(), r.Status, r.ClientContext)
	}
	op := byOp[r.ClientContext+"|"+r.OperationID]
	if op == nil {
		v.violate("event %s for an operation never sent: %s / %s", e.ID(), r.ClientContext, r.OperationID)
		return
	}
	prev := got[op]
	if slices.Contains(prev, r.Status) {
		v.violate("operation %s: a second %s event (%s)", op.ID, r.Status, e.ID())
	} else if len(prev) > 0 && r.Status.Rank() <= prev[len(prev)-1].Rank() {
		v.violate("operation %s stepped back from %s to %s", op.ID, prev[len(prev)-1], r.Status)
	}
	got[op] = append(prev, r.Status)
}
