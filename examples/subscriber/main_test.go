package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service/servicetest"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// publish stores a resolved event as the resolver does (msgID "" stores it
// even when the same event was stored before, as a replay would).
func publish(t *testing.T, js jetstream.JetStream, op events.ResolvedOperation, id, msgID string) {
	t.Helper()
	e := event.New()
	e.SetID(id)
	e.SetType(subjects.ResolvedType(string(op.Status)))
	e.SetSource(subjects.ResolvedSource(op.CallID))
	e.SetSubject(op.ClientContext)
	e.SetTime(time.Now())
	if op.Sources == nil {
		op.Sources = []events.Source{}
	}
	b, err := json.Marshal(op)
	if err != nil {
		t.Fatal(err)
	}
	_ = e.SetData(events.ContentTypeJSON, b)
	m, err := events.EncodeMsg(events.ResolvedSubject(events.Key(op.ClientContext), op.Status), e)
	if err != nil {
		t.Fatal(err)
	}
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := js.PublishMsg(context.Background(), m, opts...); err != nil {
		t.Fatal(err)
	}
}

// runExample runs the example until it printed want lines, then stops it.
func runExample(t *testing.T, url string, lines int) (string, string) {
	t.Helper()
	out, errOut := &servicetest.Buffer{}, &servicetest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, config{URL: url, Durable: "example-test"}, out, errOut) }()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < lines && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // nothing more should come
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String()
}

// TestExample runs the example against an embedded server holding a few
// resolved events and checks what it prints; run again, it resumes.
func TestExample(t *testing.T) {
	srv := natstest.Run(t)
	_, js := natstest.Connect(t, srv.URL())
	if _, err := streams.Ensure(context.Background(), js, streams.Config{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	play := events.ResolvedOperation{ClientContext: "d45324c1-fcb5-430a-902c-f20af696537c", CallID: "call-1",
		OperationID: "0fe0623f", ODataType: "#microsoft.graph.playPromptOperation", RaceDetected: true,
		ResultInfo: &events.ResultInfo{Code: 200, Subcode: 0}, CompletionReason: "completedSuccessfully"}
	running := play
	running.Status, running.ResultInfo, running.CompletionReason, running.RaceDetected = events.StatusRunning, nil, "", false
	publish(t, js, running, "id-1", "id-1")
	play.Status = events.StatusCompleted
	publish(t, js, play, "id-2", "id-2")
	publish(t, js, play, "id-2", "") // delivered twice: printed once
	rec := events.ResolvedOperation{ClientContext: "rec 7f3a.*", CallID: "call-1", OperationID: "rec-op",
		ODataType: "#microsoft.graph.recordOperation", Status: events.StatusFailed,
		ResultInfo: &events.ResultInfo{Code: 400, Subcode: 8508}, CompletionReason: "operationCanceled"}
	publish(t, js, rec, "id-3", "id-3")

	out, errOut := runExample(t, srv.URL(), 2)
	want := "completed d45324c1-fcb5-430a-902c-f20af696537c playPrompt op=0fe0623f result=200/0 reason=completedSuccessfully race\n" +
		`failed    "rec 7f3a.*" record op=rec-op result=400/8508 reason=operationCanceled` + "\n"
	if out != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", out, want)
	}
	if !strings.Contains(errOut, "Ctrl-C stops") {
		t.Fatalf("stderr: %s", errOut)
	}

	// Restarted, the durable resumes: only the new event is printed.
	mute := events.ResolvedOperation{ClientContext: "mute-9", CallID: "call-1", OperationID: "mute-op",
		ODataType: "#microsoft.graph.muteParticipantOperation", Status: events.StatusCompleted}
	publish(t, js, mute, "id-4", "id-4")
	if out, _ := runExample(t, srv.URL(), 1); out != "completed mute-9 muteParticipant op=mute-op\n" {
		t.Fatalf("after a restart printed:\n%s", out)
	}
}

func TestExampleWithoutNATS(t *testing.T) {
	err := run(context.Background(), config{URL: "nats://127.0.0.1:1", Durable: "x"}, &servicetest.Buffer{}, &servicetest.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "go run ./cmd/devstack") {
		t.Fatalf("err = %v", err)
	}
}
