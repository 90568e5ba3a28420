package resolver

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// BenchmarkStartToFirstEvent times a worker's start on a waiting backlog, on
// a 3-node cluster with R3 streams and 16 partitions, as a fresh deploy
// finds it (no consumers yet): from NewWorker to the first resolved event
// (ms/first-event; ns/op also counts the rest of Start).
// The target is under 300ms (1.2s when the consumers were created
// one after the other).
func BenchmarkStartToFirstEvent(b *testing.B) {
	c := natstest.RunCluster(b, 3)
	nc, js := natstest.Connect(b, c.URL())
	ctx := context.Background()
	layout, err := streams.Ensure(ctx, js, streams.Config{Replicas: 3, Partitions: 16})
	if err != nil {
		b.Fatal(err)
	}
	_, seq := traffic.Generate(rand.New(rand.NewPCG(1, 1)), 200, traffic.Shares{Race: 0.3, Duplicates: 0.2, SharedCC: 0.25})
	in, err := traffic.Inbounds(seq)
	if err != nil {
		b.Fatal(err)
	}
	pub, err := events.NewPublisher(js)
	if err != nil {
		b.Fatal(err)
	}
	if err := pub.Store(ctx, in); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if _, err := streams.ResetResolver(ctx, js); err != nil {
			b.Fatal(err)
		}
		if layout, err = streams.Ensure(ctx, js, streams.Config{Replicas: 3, Partitions: 16}); err != nil {
			b.Fatal(err)
		}
		first := make(chan time.Time, 1)
		sub, err := nc.Subscribe(events.SubjectResolvedPrefix+">", func(*nats.Msg) {
			select {
			case first <- time.Now():
			default:
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		w, err := NewWorker(ctx, js, layout.State, layout.Partitions, Config{WorkerID: "bench", Members: layout.Workers}, log)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Start(ctx); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-first:
			total += at.Sub(start)
		case <-time.After(30 * time.Second):
			b.Fatal("no resolved event")
		}
		b.StopTimer()
		_ = sub.Unsubscribe()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = w.Stop(sctx)
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/first-event")
}
