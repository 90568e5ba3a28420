package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// serveEnv names the environment variable that makes this program one of the
// layout mode's ceiling processes instead of the benchmark: bare-handler,
// shaped-handler or relay. The processes read NATS_URL and, the handlers,
// OPSBENCH_ADDR.
const serveEnv = "OPSBENCH_SERVE"

// serveMain runs serve mode until SIGTERM and returns the exit code.
func serveMain(mode string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve1(ctx, mode, os.Getenv("NATS_URL"), os.Getenv("OPSBENCH_ADDR")); err != nil {
		fmt.Fprintf(os.Stderr, "opsbench %s: %v\n", mode, err)
		return 1
	}
	return 0
}

// serve1 connects to natsURL as the benchmark's in-process roles do and runs
// mode until ctx ends.
func serve1(ctx context.Context, mode, natsURL, addr string) error {
	nc, err := nats.Connect(natsURL, nats.Name("opsbench-"+mode), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second), jetstream.WithPublishAsyncMaxPending(16384))
	if err != nil {
		return err
	}
	var h http.Handler
	switch mode {
	case "relay":
		cons, err := js.Consumer(ctx, events.StreamIn, "bench-relay")
		if err != nil {
			return fmt.Errorf("relay consumer: %w", err)
		}
		return relay(ctx, js, cons, func() {})
	case "bare-handler":
		h = newBareHandler(js)
	case "shaped-handler":
		if h, err = newShapedHandler(js); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s=%q: not a serve mode (bare-handler, shaped-handler, relay)", serveEnv, mode)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/notifications", h)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
