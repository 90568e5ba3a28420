package forwarder

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// BenchmarkForward: b.N events of 64 keys, published while the forwarder
// runs, forwarded to a sink that answers 204 at once; reports events per
// second end to end (decode, POST, ack confirmed by the server).
func BenchmarkForward(b *testing.B) {
	srv := natstest.Run(b)
	_, js := natstest.Connect(b, srv.URL())
	ctx := context.Background()
	if _, err := streams.Ensure(ctx, js, streams.Config{Partitions: 2}); err != nil {
		b.Fatal(err)
	}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	cfg := testConfig(sink.URL)
	cfg.Concurrency = 64
	cfg.HTTPClient = nil
	f, err := New(ctx, js, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = f.Stop(sctx)
	}()
	msgs := make([]*nats.Msg, b.N)
	for i := range b.N {
		cc := fmt.Sprintf("ctx-%d", i%64)
		msgs[i], err = events.EncodeMsg(events.ResolvedSubject(events.Key(cc), events.StatusCompleted),
			resolvedEvent(b, cc, fmt.Sprintf("op-%d", i), events.StatusCompleted))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	var last uint64
	for _, m := range msgs {
		fut, err := js.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		_ = fut
	}
	<-js.PublishAsyncComplete()
	info, err := js.Stream(ctx, events.StreamResolved)
	if err != nil {
		b.Fatal(err)
	}
	last = info.CachedInfo().State.LastSeq
	cons, err := js.Consumer(ctx, events.StreamResolved, cfg.Durable)
	if err != nil {
		b.Fatal(err)
	}
	for {
		ci, err := cons.Info(ctx)
		if err == nil && ci.AckFloor.Stream >= last {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
