package e2e

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// preload fills COMMS_IN with n operations' evidence and returns how many
// messages and how many resolved events they make.
func preload(b *testing.B, n int) (*natstest.Server, jetstream.JetStream, *streams.Layout, int, int) {
	srv := natstest.Run(b)
	_, js := natstest.Connect(b, srv.URL())
	ctx := context.Background()
	layout, err := streams.Ensure(ctx, js, streams.Config{Partitions: events.Partitions})
	if err != nil {
		b.Fatal(err)
	}
	_, seq := generate(rand.New(rand.NewPCG(1, 1)), n)
	var batch []inbound.Inbound
	for i, e := range seq {
		batch = append(batch, inboundOf(b, e)...)
		if len(batch) >= 256 || i == len(seq)-1 {
			if err := inbound.Store(ctx, js, events.DefaultStoreTimeout, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	_, nEvents := traffic.Model(seq)
	return srv, js, layout, len(seq), nEvents
}

// BenchmarkRelayCeiling is the bare JetStream loop the resolver is measured
// against: consume COMMS_IN, republish each message unchanged (async) to
// another stream, ack once the publish is acknowledged. No parsing, no state.
func BenchmarkRelayCeiling(b *testing.B) {
	_, js, _, msgs, _ := preload(b, max(b.N, 100))
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RELAY", Subjects: []string{"relay.>"}}); err != nil {
		b.Fatal(err)
	}
	cons, err := js.CreateConsumer(ctx, events.StreamIn, jetstream.ConsumerConfig{Durable: "relay", AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: subjects.InFilter(-1, string(graphwire.KindOperation)), MaxAckPending: 16 * 1024})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	done := make(chan struct{})
	var acked atomic.Int64
	cc, err := cons.Consume(func(m jetstream.Msg) {
		h := nats.Header{}
		for k, v := range m.Headers() {
			if !strings.HasPrefix(k, "Nats-") { // publish assertions of the original
				h[k] = v
			}
		}
		f, err := js.PublishMsgAsync(&nats.Msg{Subject: "relay." + m.Subject(), Header: h, Data: m.Data()})
		if err != nil {
			b.Error(err)
			close(done)
			return
		}
		go func() {
			select {
			case <-f.Ok():
				_ = m.Ack()
				if acked.Add(1) == int64(msgs) {
					close(done)
				}
			case err := <-f.Err():
				b.Error(err)
			}
		}()
	}, jetstream.PullMaxMessages(512))
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("relayed %d of %d", acked.Load(), msgs)
	}
	el := time.Since(start)
	b.StopTimer()
	cc.Stop()
	b.ReportMetric(float64(msgs)/el.Seconds(), "msgs/s")
}

// BenchmarkResolver measures one resolver worker draining b.N operations'
// evidence (2-3 events each, races and duplicates) preloaded in COMMS_IN, on
// one file-backed embedded server; it reports input messages per second and
// verifies the output against the model.
func BenchmarkResolver(b *testing.B) {
	_, js, layout, msgs, want := preload(b, max(b.N, 100))
	ctx := context.Background()
	rs, _ := js.Stream(ctx, events.StreamResolved)
	b.ResetTimer()
	start := time.Now()
	w, err := resolver.NewWorker(ctx, js, layout.State, layout.Partitions, resolver.Config{WorkerID: "bench"}, testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for {
		info, err := rs.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if int(info.State.Msgs) >= want {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("only %d of %d events", info.State.Msgs, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	_ = w.Stop(ctx)
	b.ReportMetric(float64(msgs)/el.Seconds(), "msgs/s")
}
