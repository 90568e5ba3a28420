package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// A bot stores the response of a Graph action in COMMS_IN; the resolver turns
// it into the operation's resolved status, which Operations reads.
func ExamplePublisher_PublishResponse() {
	js, stop := runPipeline()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pub, err := events.NewPublisher(js)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The response of POST /communications/calls/{id}/playPrompt, as Graph
	// answered it, with the clientContext the bot sent.
	resp := events.ActionResponse{
		CallID:        "57dab8b1-894c-409a-b240-bd8beae78896",
		Action:        "playPrompt",
		ClientContext: "prompt-1",
		HTTPStatus:    200,
		Operation:     json.RawMessage(`{"@odata.type":"#microsoft.graph.playPromptOperation","id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5","status":"running","clientContext":"prompt-1"}`),
	}
	if _, err := pub.PublishResponse(ctx, resp); err != nil {
		fmt.Println(err)
		return
	}

	ops, err := events.NewOperations(js)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ops.Close()
	op, err := ops.Await(ctx, "prompt-1", events.UntilStatus(events.StatusRunning))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(op.OperationID, op.Status)
	// Output: 0fe0623f-d628-42ed-b4bd-8ac290072cc5 running
}

// A bot awaits the outcome of an operation by the clientContext it sent:
// Await returns at once when the operation already has the awaited status,
// else when it reaches it, else when ctx ends (an *AwaitError with the last
// status seen).
func ExampleOperations_Await() {
	js, stop := runPipeline()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	ops, err := events.NewOperations(js)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ops.Close()
	// Elsewhere: the ingest stores Graph's callbacks and the bot its action
	// responses. Here a response already reports the operation completed.
	store(ctx, js, "record", "record-7", `{"@odata.type":"#microsoft.graph.recordOperation","id":"b5ce4f8b-0d4f-4f8a-93a8-8a0a0e2b4c11","status":"completed","clientContext":"record-7","resultInfo":{"code":200,"subcode":0,"message":"Action completed"}}`)

	op, err := ops.Await(ctx, "record-7", events.UntilStatus(events.StatusCompleted, events.StatusFailed))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(op.Status, op.ResultInfo.Code, op.ResultInfo.Message)
	// Output: completed 200 Action completed
}

// A downstream service runs a Subscriber with a handler; every resolved
// status of the selected clientContexts reaches the handler at least once
// (dedupe by r.Event.ID()). Returning nil acknowledges the event.
func ExampleSubscriber_Run() {
	js, stop := runPipeline()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	store(ctx, js, "participants/invite", "invite-3", `{"@odata.type":"#microsoft.graph.inviteParticipantsOperation","id":"7d8e9f10-1111-4a2b-9c3d-4e5f60718293","status":"failed","clientContext":"invite-3","resultInfo":{"code":403,"subcode":7507,"message":"Forbidden"}}`)

	sub, err := events.NewSubscriber(js, events.DeliverAll(), events.FilterClientContext("invite-3"))
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stopRun := context.WithCancel(ctx)
	err = sub.Run(runCtx, func(_ context.Context, r *events.Resolved) error {
		fmt.Println(r.Event.Subject(), r.Data.Status, r.Data.ResultInfo.Code)
		stopRun() // one event is enough here; a service runs until shutdown
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: invite-3 failed 403
}

// store stores the response of action whose operation is op, as a bot's
// Publisher does.
func store(ctx context.Context, js jetstream.JetStream, action, clientContext, op string) {
	pub, err := events.NewPublisher(js)
	if err != nil {
		panic(err)
	}
	r := events.ActionResponse{CallID: "57dab8b1-894c-409a-b240-bd8beae78896", Action: action,
		ClientContext: clientContext, HTTPStatus: 200, Operation: json.RawMessage(op)}
	if _, err := pub.PublishResponse(ctx, r); err != nil {
		panic(err)
	}
}

// runPipeline starts what the examples run against: an embedded JetStream
// server on a free port over a temporary directory, the streams, and a
// resolver. stop shuts all of it down.
func runPipeline() (js jetstream.JetStream, stop func()) {
	dir, err := os.MkdirTemp("", "events-example-")
	if err != nil {
		panic(err)
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		panic(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		panic("nats-server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		panic(err)
	}
	if js, err = jetstream.New(nc); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	layout, err := streams.Ensure(ctx, js, streams.Config{Partitions: 1})
	if err != nil {
		panic(err)
	}
	w, err := resolver.NewWorker(ctx, js, layout.State, layout.Partitions,
		resolver.Config{Members: layout.Workers, CommitDelay: 10 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	if err := w.Start(context.Background()); err != nil {
		panic(err)
	}
	return js, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(sctx)
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
		_ = os.RemoveAll(dir)
	}
}
