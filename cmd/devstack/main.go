// Command devstack runs the whole commsops pipeline in one process for
// development: an embedded JetStream server on 127.0.0.1, the ingest, a
// resolver, and a printer of resolved events. With -demo it feeds the bundled
// sample capture (a call with the race in it) through the ingest over HTTP.
//
//	go run ./cmd/devstack -demo
//
// Other local processes (cmd/ingest, cmd/resolver, opsctl) join its NATS
// server in their own dev mode. Not for production: authentication is off.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/demo"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/natsconn"
	"github.com/commsops/commsops/internal/opsapi"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/service"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// Config is the dev stack's configuration.
type Config struct {
	service.Common
	service.Debug
	IngestAddr string        `envconfig:"INGEST_ADDR" default:"127.0.0.1:8080" desc:"ingest HTTP listen address"`
	APIAddr    string        `envconfig:"INGEST_API_ADDR" default:"127.0.0.1:8082" desc:"operations API listen address (off disables it)"`
	StallAfter time.Duration `envconfig:"RESOLVER_STALL_AFTER" default:"10m" desc:"stall report delay"`
}

func main() {
	service.Main("devstack", func(ctx context.Context, args []string) error { return run(ctx, args, os.Stdout) })
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var (
		cfg       Config
		feedDemo  bool
		exitAfter bool
		jsonOut   bool
	)
	err := service.Load("devstack", args, &cfg, out, func(fs *flag.FlagSet) {
		fs.BoolVar(&feedDemo, "demo", false, "feed the bundled sample capture through the ingest")
		fs.BoolVar(&exitAfter, "exit-after-demo", false, "with -demo: exit once the capture's resolved events are printed")
		fs.BoolVar(&jsonOut, "json", false, "print resolved events as JSON lines")
	})
	if err != nil {
		return err
	}
	out = &lockedWriter{w: out} // the printer and the feeder write concurrently
	if !cfg.DevMode() {
		return errors.New("devstack runs only in dev mode: unset NATS_URL (use cmd/ingest and cmd/resolver against a real cluster)")
	}
	log := service.NewLogger(os.Stderr, cfg.LogFormat, cfg.LogLevel, true, "devstack")
	if _, err := service.ServeDebug(ctx, cfg.DebugAddr, log); err != nil {
		return err
	}
	if cfg.DevDir == "" {
		// A fresh store each run, so the demo resolves anew every time.
		dir, err := os.MkdirTemp("", "commsops-dev-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.DevDir = dir
	}

	// Step 1: embedded JetStream and the streams.
	conn, err := natsconn.Connect(ctx, cfg.Config, "commsops-devstack", log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		conn.Close(sctx)
	}()
	layout, err := streams.Ensure(ctx, conn.JS, streams.Config{Replicas: 1, Partitions: cfg.Partitions})
	if err != nil {
		return err
	}

	// Step 2: print resolved events as they arrive.
	printed := make(chan events.ResolvedOperation, 64)
	stopPrint, err := printResolved(ctx, conn.JS, out, jsonOut, printed)
	if err != nil {
		return err
	}
	defer stopPrint()

	// Step 3: the resolver.
	w, err := resolver.NewWorker(ctx, conn.JS, layout.State, layout.Partitions, resolver.Config{StallAfter: cfg.StallAfter, Members: layout.Workers}, log)
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = w.Stop(sctx)
	}()

	// Step 4: the ingest, without authentication (dev mode).
	store := inbound.Storer{JS: conn.JS, Timeout: events.DefaultStoreTimeout}
	h, err := ingest.NewHandler(ingest.Options{Store: store, Ready: streams.Writable(conn.JS), Log: log})
	if err != nil {
		return err
	}
	srv := service.NewHTTPServer(cfg.IngestAddr, h, log)
	addr, errc, err := service.Serve(srv)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = service.Shutdown(sctx, srv)
	}()
	base := "http://" + addr.String()

	// Step 5: the operations API, for bots that do not speak NATS.
	apiSrv, apiAddr, apiErrc, err := opsapi.Start(conn.JS, cfg.APIAddr, opsapi.Options{Responses: h, Log: log})
	if err != nil {
		return err
	}
	api := "off"
	if apiSrv != nil {
		api = "http://" + apiAddr.String()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			_ = service.Shutdown(sctx, apiSrv)
		}()
	}
	log.Warn("dev stack up: ingest without authentication", "ingest", base, "operations_api", api, "nats", conn.URL, "store_dir", cfg.DevDir)
	fmt.Fprintf(out, "commsops dev stack: ingest %s, operations API %s, NATS %s. Ctrl-C stops it.\n", base, api, conn.URL)

	// Step 6: the demo.
	if feedDemo {
		fmt.Fprintln(out, "feeding the sample capture (one call; the race, a retry, a cancelled recording, an invite with a null id):")
		err := demo.Feed(ctx, http.DefaultClient, base, "", func(i int, e demo.Entry, status int) {
			fmt.Fprintf(out, "  → %-18s %d  %s\n", e.Route, status, e.Note)
		})
		if err != nil {
			return err
		}
		if exitAfter {
			return waitForDemo(ctx, printed)
		}
	}
	select {
	case err := <-errc:
		return err
	case err := <-apiErrc:
		return fmt.Errorf("operations API: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// waitForDemo returns once every resolved event the capture yields was printed.
func waitForDemo(ctx context.Context, printed <-chan events.ResolvedOperation) error {
	want := demo.ExpectedCount()
	timeout := time.After(30 * time.Second)
	for n := 0; n < want; {
		select {
		case <-printed:
			n++
		case <-timeout:
			return fmt.Errorf("only %d of %d resolved events arrived within 30s", n, want)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// printResolved prints every new resolved event and passes it to seen.
func printResolved(ctx context.Context, js jetstream.JetStream, out io.Writer, asJSON bool, seen chan<- events.ResolvedOperation) (func(), error) {
	oc, err := js.OrderedConsumer(ctx, events.StreamResolved, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, fmt.Errorf("devstack: subscribe %s: %w", events.StreamResolved, err)
	}
	cc, err := oc.Consume(func(m jetstream.Msg) {
		e, err := events.DecodeMsg(m.Headers(), m.Data())
		if err != nil {
			slog.Default().Error("undecodable resolved event", "err", err)
			return
		}
		var r events.ResolvedOperation
		if err := json.Unmarshal(e.Data(), &r); err != nil {
			slog.Default().Error("undecodable resolved data", "err", err)
			return
		}
		if asJSON {
			fmt.Fprintf(out, "%s\n", e.Data())
		} else {
			kinds := make([]string, 0, len(r.Sources))
			for _, s := range r.Sources {
				k := string(s.Kind) + ":" + string(s.Status)
				if s.Absorbed {
					k += "(absorbed)"
				}
				kinds = append(kinds, k)
			}
			fmt.Fprintf(out, "resolved %-10s cc=%-38s op=%-36s %-32s race=%-5v sources=%s\n",
				r.Status, r.ClientContext, r.OperationID, strings.TrimPrefix(r.ODataType, "#microsoft.graph."),
				r.RaceDetected, strings.Join(kinds, ","))
		}
		select {
		case seen <- r:
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	return cc.Stop, nil
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
