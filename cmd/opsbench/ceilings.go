package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// benchPublish is the first ceiling: asynchronous publishes of messages of
// the same size and header shape as commsops' COMMS_IN events (the same
// CloudEvents binary-mode headers and bodies, with their id as Nats-Msg-Id)
// into a plain stream, waiting for every ack. msgs/s.
func benchPublish(ctx context.Context, b *bench, seq []traffic.Evidence) (rate float64, cpuPerMsg time.Duration, err error) {
	if err := b.reset(ctx); err != nil {
		return 0, 0, err
	}
	in, err := traffic.Inbounds(seq)
	if err != nil {
		return 0, 0, err
	}
	if err := b.plainStream(ctx, "BENCH_PUBLISH", "bench.publish.>"); err != nil {
		return 0, 0, err
	}
	nc, js, err := b.connect("opsbench-publisher")
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	msgs := make([]*nats.Msg, len(in))
	for i, ev := range in {
		m, err := events.EncodeMsg("bench.publish."+strings.TrimPrefix(ev.Subject, events.SubjectInPrefix), ev.Event())
		if err != nil {
			return 0, 0, err
		}
		m.Header[jetstream.MsgIDHeader] = []string{ev.ID()}
		msgs[i] = m
	}
	in = nil
	runtime.GC()
	b.profile.start("publish")
	defer b.profile.stop("publish")
	t := startTimer()
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		if futures[i], err = js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			return 0, 0, fmt.Errorf("publish: %w", err)
		}
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, 0, fmt.Errorf("publish ack: %w", err)
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	wall, cpu := t.stop()
	return float64(len(msgs)) / wall.Seconds(), cpu / time.Duration(len(msgs)), nil
}

// benchRelay is the second ceiling: one pull consumer on COMMS_IN (preloaded
// exactly as for the resolver) whose loop republishes each message to another
// stream with an async publish and acks it once that publish is acked. No
// parsing, no state. Input msgs/s.
func benchRelay(ctx context.Context, b *bench, seq []traffic.Evidence) (rate float64, cpuPerMsg time.Duration, err error) {
	if err := b.reset(ctx); err != nil {
		return 0, 0, err
	}
	if _, err := b.ensure(ctx); err != nil {
		return 0, 0, err
	}
	n, err := b.preloadSeq(ctx, seq)
	if err != nil {
		return 0, 0, err
	}
	if err := b.plainStream(ctx, "BENCH_RELAY", "bench.relay.>"); err != nil {
		return 0, 0, err
	}
	cons, err := b.ajs.CreateConsumer(ctx, events.StreamIn, jetstream.ConsumerConfig{Durable: "bench-relay",
		AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: subjects.InFilter(-1, string(graphwire.KindOperation)),
		MaxAckPending: 16384})
	if err != nil {
		return 0, 0, err
	}
	nc, js, err := b.connect("opsbench-relay")
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	if cons, err = js.Consumer(ctx, events.StreamIn, "bench-relay"); err != nil {
		return 0, 0, err
	}

	done := make(chan error, 1)
	var acked atomic.Int64
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.profile.start("relay")
	defer b.profile.stop("relay")
	t := startTimer()
	var wall, cpu time.Duration // written before cancel, read after done
	go func() {
		done <- relay(rctx, js, cons, func() {
			if acked.Add(1) == int64(n) {
				wall, cpu = t.stop()
				cancel()
			}
		})
	}()
	select {
	case err = <-done:
		if err == nil && acked.Load() < int64(n) {
			err = ctx.Err()
		}
	case <-time.After(timeLimit(n)):
		cancel()
		<-done
		err = fmt.Errorf("the relay moved %d of %d messages in %v", acked.Load(), n, timeLimit(n))
	}
	if err != nil {
		return 0, 0, err
	}
	return float64(n) / wall.Seconds(), cpu / time.Duration(n), nil
}

// relay consumes cons and republishes each message, without its publish
// assertions, to bench.relay.<subject> with an async publish, and acks it
// once that publish is acked (publish acks arrive in order: one goroutine
// waits for them in order), calling onAck after each ack. No parsing, no
// state. It runs until ctx ends (nil) or a publish or ack fails.
func relay(ctx context.Context, js jetstream.JetStream, cons jetstream.Consumer, onAck func()) error {
	type inFlight struct {
		m jetstream.Msg
		f jetstream.PubAckFuture
	}
	queue := make(chan inFlight, 32768)
	failed := make(chan error, 1)
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	stop := make(chan struct{})
	ackerDone := make(chan struct{})
	go func() {
		defer close(ackerDone)
		for {
			var p inFlight
			select {
			case p = <-queue:
			case <-stop:
				return
			}
			select {
			case <-p.f.Ok():
				if err := p.m.Ack(); err != nil {
					fail(fmt.Errorf("relay ack: %w", err))
					return
				}
				onAck()
			case err := <-p.f.Err():
				fail(fmt.Errorf("relay publish: %w", err))
				return
			case <-stop:
				return
			}
		}
	}()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		h := make(nats.Header, len(m.Headers()))
		for k, v := range m.Headers() {
			if !strings.HasPrefix(k, "Nats-Expected-") { // the original's publish assertions
				h[k] = v
			}
		}
		f, err := js.PublishMsgAsync(&nats.Msg{Subject: "bench.relay." + m.Subject(), Header: h, Data: m.Data()},
			jetstream.WithStallWait(time.Minute))
		if err != nil {
			fail(fmt.Errorf("relay publish: %w", err))
			return
		}
		select {
		case queue <- inFlight{m, f}:
		case <-stop:
		}
	}, jetstream.PullMaxMessages(512))
	if err != nil {
		close(stop)
		<-ackerDone
		return err
	}
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	cc.Stop()
	close(stop)
	<-ackerDone
	return err
}

// timeLimit bounds a phase that moves n messages: generous, it only turns a
// hang into an error.
func timeLimit(n int) time.Duration {
	return max(2*time.Minute, time.Duration(n)*2*time.Millisecond)
}

var errViolations = errors.New("resolver output violates the contract")
