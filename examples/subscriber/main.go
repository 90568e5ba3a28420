// Command subscriber is a runnable example of a downstream consumer of
// commsops: it prints every Graph operation that completes or fails, using
// the pkg/events Subscriber.
//
//	go run ./cmd/devstack -demo          # in one terminal: the pipeline, with a sample call
//	go run ./examples/subscriber         # in another: NATS at nats://127.0.0.1:4222
//	NATS_URL=nats://nats:4222 NATS_CREDS=/etc/nats/app.creds go run ./examples/subscriber
//
// It binds the durable consumer SUBSCRIBER_DURABLE (default
// "example-printer"): run it several times and the copies share the events;
// stop and start it and it resumes where it stopped. The first start of the
// durable begins with the oldest event COMMS_RESOLVED holds. Ctrl-C (or
// SIGTERM) stops it after the event in hand is handled.
//
// Only public packages are used (pkg/events, nats.go), as in a service of
// your own.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// config is read from the environment, like every commsops process.
type config struct {
	URL     string // NATS_URL
	Creds   string // NATS_CREDS
	Durable string // SUBSCRIBER_DURABLE
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg := config{
		URL:     envOr("NATS_URL", "nats://127.0.0.1:4222"),
		Creds:   os.Getenv("NATS_CREDS"),
		Durable: envOr("SUBSCRIBER_DURABLE", "example-printer"),
	}
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "subscriber:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run prints completed and failed operations to out until ctx ends; problems
// it gets past (an undecodable event) go to errOut.
func run(ctx context.Context, cfg config, out, errOut io.Writer) error {
	opts := []nats.Option{nats.Name("commsops-example-subscriber"), nats.MaxReconnects(-1)}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		// NATS_URL may carry a user:password or a token: never print it.
		return fmt.Errorf("no NATS at NATS_URL (%w): start the pipeline with `go run ./cmd/devstack` or set NATS_URL", err)
	}
	defer nc.Close() // after Run: it has flushed its acks
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	sub, err := events.NewSubscriber(js,
		events.Durable(cfg.Durable),
		events.DeliverAll(), // for a new durable only; it then resumes where it stopped
		events.FilterStatus(events.StatusCompleted, events.StatusFailed),
		events.OnError(func(err error) { fmt.Fprintln(errOut, "subscriber:", err) }),
	)
	if err != nil {
		return err
	}
	fmt.Fprintf(errOut, "subscriber: printing completed and failed operations from %s (durable %q); Ctrl-C stops\n", nc.ConnectedAddr(), cfg.Durable)

	// Events are delivered at least once (a crash, a replay): dedupe by id.
	seen := newRecent(10000)
	err = sub.Run(ctx, func(_ context.Context, r *events.Resolved) error {
		if !seen.add(r.Event.ID()) {
			return nil
		}
		_, err := fmt.Fprintln(out, line(r.Data))
		return err // a failed write is retried later
	})
	if err != nil {
		return fmt.Errorf("%w (is the pipeline running? `go run ./cmd/devstack` creates the streams)", err)
	}
	return nil
}

// line is one operation's outcome: status, clientContext, action, operation
// id, result code/subcode, completion reason and whether the race happened.
func line(op events.ResolvedOperation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-9s %s %s op=%s", op.Status, quoteIfNeeded(op.ClientContext),
		strings.TrimSuffix(strings.TrimPrefix(op.ODataType, "#microsoft.graph."), "Operation"), op.OperationID)
	if op.ResultInfo != nil {
		fmt.Fprintf(&b, " result=%d/%d", op.ResultInfo.Code, op.ResultInfo.Subcode)
	}
	if op.CompletionReason != "" {
		fmt.Fprintf(&b, " reason=%s", op.CompletionReason)
	}
	if op.RaceDetected {
		b.WriteString(" race")
	}
	return b.String()
}

// quoteIfNeeded quotes a clientContext holding spaces, quotes or nothing.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"") || strconv.Quote(s) != `"`+s+`"` {
		return strconv.Quote(s)
	}
	return s
}

// recent remembers the last n ids added.
type recent struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newRecent(n int) *recent {
	return &recent{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add reports whether id is new, and remembers it.
func (r *recent) add(id string) bool {
	if _, ok := r.ids[id]; ok {
		return false
	}
	delete(r.ids, r.ring[r.next])
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.ids[id] = struct{}{}
	return true
}
