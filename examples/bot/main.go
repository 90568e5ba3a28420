// Command bot is a minimal calling bot on commsops: it answers a call, plays
// a prompt and waits for the prompt's result. Its Graph client stores every
// action response by itself (events.CaptureResponses), and the result is
// awaited from COMMS_RESOLVED (events.Operations), so any replica can await
// it, before or after the result arrived, and after a restart.
//
//	BOT_GRAPH_URL=http://127.0.0.1:9090/v1.0 go run ./examples/bot -call <callId>
//	go run ./examples/bot -await <clientContext>   # as another replica would
//
// It uses only pkg/events, nats.go and net/http, as a bot of your own would.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// config is the bot's configuration.
type config struct {
	GraphURL    string        // Graph's base URL, with the API version
	NATSURL     string        // where commsops' JetStream runs
	CallbackURL string        // the ingest's notification route, given to Graph on answer
	CallID      string        // the call to answer (-call)
	Await       string        // only await this clientContext (-await)
	Timeout     time.Duration // longest wait for the prompt's result
}

func main() {
	cfg := config{
		GraphURL:    envOr("BOT_GRAPH_URL", "http://127.0.0.1:9090/v1.0"),
		NATSURL:     envOr("NATS_URL", nats.DefaultURL),
		CallbackURL: envOr("BOT_CALLBACK_URL", "http://127.0.0.1:8080/v1/notifications"),
	}
	flag.StringVar(&cfg.CallID, "call", "", "id of the incoming call to answer")
	flag.StringVar(&cfg.Await, "await", "", "only await the result of this clientContext")
	flag.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "longest wait for the prompt's result")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bot:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run answers cfg.CallID, plays a prompt and prints its result; with
// cfg.Await it only awaits that clientContext's result.
func run(ctx context.Context, cfg config, out io.Writer) error {
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("commsops-example-bot"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("no NATS at NATS_URL (%w): start the pipeline with `go run ./cmd/devstack`", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ops, err := events.NewOperations(js)
	if err != nil {
		return err
	}
	defer ops.Close()

	cc := cfg.Await
	opID := ""
	if cc == "" {
		if cfg.CallID == "" {
			return errors.New("give -call <callId> to answer, or -await <clientContext>")
		}
		pub, err := events.NewPublisher(js)
		if err != nil {
			return err
		}
		g := &graph{base: cfg.GraphURL, http: &http.Client{
			Timeout: 10 * time.Second,
			// Every action's response is stored as evidence for commsops.
			Transport: events.CaptureResponses(http.DefaultTransport, pub,
				events.OnCaptureError(func(err error) { fmt.Fprintln(os.Stderr, "bot: capture:", err) })),
		}}
		if _, err := g.post(ctx, cfg.CallID, "answer", map[string]any{
			"callbackUri":        cfg.CallbackURL,
			"acceptedModalities": []string{"audio"},
			"mediaConfig":        map[string]any{"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
		}); err != nil {
			return err
		}
		cc = newClientContext()
		op, err := g.post(ctx, cfg.CallID, "playPrompt", map[string]any{
			"clientContext": cc,
			"prompts": []any{map[string]any{"@odata.type": "#microsoft.graph.mediaPrompt",
				"mediaInfo": map[string]any{"@odata.type": "#microsoft.graph.mediaInfo", "uri": "https://cdn.contoso.com/hello.wav"}}},
		})
		if err != nil {
			return err
		}
		opID = op.ID
		fmt.Fprintf(out, "playPrompt sent: clientContext %s operation %s\n", cc, opID)
	}

	wait, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var opts []events.AwaitOption
	if opID != "" {
		opts = append(opts, events.ForOperation(opID))
	}
	res, err := ops.Await(wait, cc, opts...)
	var ae *events.AwaitError
	if errors.As(err, &ae) && ctx.Err() == nil {
		return fmt.Errorf("no result for %s within %v (last status %q)", cc, cfg.Timeout, ae.LastStatus())
	}
	if err != nil {
		return err
	}
	code := 0
	if res.ResultInfo != nil {
		code = res.ResultInfo.Code
	}
	fmt.Fprintf(out, "playPrompt %s: %s (result %d, race %v)\n", cc, res.Status, code, res.RaceDetected)
	return nil
}

// graph is the bot's Graph client: actions on calls.
type graph struct {
	base string
	http *http.Client
}

// operation is what the bot reads of a commsOperation.
type operation struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// post sends an action on a call and returns the operation Graph answered
// (empty for a 202 with no body).
func (g *graph) post(ctx context.Context, callID, action string, body any) (operation, error) {
	var op operation
	b, err := json.Marshal(body)
	if err != nil {
		return op, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+"/communications/calls/"+url.PathEscape(callID)+"/"+action, bytes.NewReader(b))
	if err != nil {
		return op, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.http.Do(req)
	if err != nil {
		return op, fmt.Errorf("%s: %w", action, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return op, fmt.Errorf("%s: %w", action, err)
	}
	if resp.StatusCode >= 300 {
		return op, fmt.Errorf("%s: Graph answered %s: %.200s", action, resp.Status, data)
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &op); err != nil {
			return op, fmt.Errorf("%s: %w", action, err)
		}
	}
	return op, nil
}

// newClientContext returns a random clientContext.
func newClientContext() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
