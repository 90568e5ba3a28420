package e2e

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// BenchmarkResolver measures one resolver worker draining b.N operations'
// evidence (2-3 events each, races and duplicates) preloaded in COMMS_IN, on
// one file-backed embedded server; it reports input messages per second and
// verifies the output against the model.
func BenchmarkResolver(b *testing.B) {
	srv := natstest.Run(b)
	_, js := natstest.Connect(b, srv.URL())
	ctx := context.Background()
	layout, err := streams.Ensure(ctx, js, streams.Config{Partitions: events.Partitions})
	if err != nil {
		b.Fatal(err)
	}
	_, seq := generate(rand.New(rand.NewPCG(1, 1)), max(b.N, 100))
	want := total(expected(seq))
	pub, _ := events.NewPublisher(js)
	var batch []events.Inbound
	for i, e := range seq {
		batch = append(batch, inboundB(b, e, i)...)
		if len(batch) >= 256 || i == len(seq)-1 {
			if err := pub.Store(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
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
	b.ReportMetric(float64(len(seq))/el.Seconds(), "msgs/s")
}
