// Command subscriber is a runnable example of a downstream consumer of
// commsops' resolved operation events: it prints every operation that
// completes or fails, as a durable consumer shared by all its replicas.
//
//	go run ./examples/subscriber            # dev mode: NATS at 127.0.0.1:4222
//	NATS_URL=nats://nats:4222 go run ./examples/subscriber
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	if err := run(ctx, url, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "subscriber:", err)
		os.Exit(1)
	}
}

// run prints completed and failed operations until ctx ends.
func run(ctx context.Context, url string, out io.Writer) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return fmt.Errorf("connect %s: %w (start the pipeline with `go run ./cmd/devstack`)", url, err)
	}
	defer nc.Drain()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	sub, err := events.NewSubscriber(js,
		events.Durable("example-printer"),
		events.DeliverAll(),
		events.FilterStatus(events.StatusCompleted, events.StatusFailed))
	if err != nil {
		return err
	}
	seen := map[string]bool{} // subscribers dedupe by event id
	return sub.Run(ctx, func(_ context.Context, r *events.Resolved) error {
		if seen[r.Event.ID()] {
			return nil
		}
		seen[r.Event.ID()] = true
		code := 0
		if r.Data.ResultInfo != nil {
			code = r.Data.ResultInfo.Code
		}
		_, err := fmt.Fprintf(out, "%s %s op=%s code=%d race=%v\n", r.Data.Status, r.Data.ClientContext, r.Data.OperationID, code, r.Data.RaceDetected)
		return err
	})
}
