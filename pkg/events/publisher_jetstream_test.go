package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// jetStream starts an embedded JetStream server with a minimal COMMS_IN
// (the real one is made by internal/streams, which pkg/events must not import).
func jetStream(t *testing.T) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	return jetStreamWith(t, func(*server.Options) {})
}

// jetStreamWith is jetStream with the server's options adjusted by opt.
func jetStreamWith(t *testing.T, opt func(*server.Options)) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	opt(o)
	srv, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	s, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: events.StreamIn, Subjects: []string{events.SubjectInPrefix + ">"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return js, s
}

// TestPublisherStoresActionResponses: a bot stores its action responses
// straight into COMMS_IN, as the ingest would, once however often it retries;
// an invalid response is refused with a clear error and stores nothing.
func TestPublisherStoresActionResponses(t *testing.T) {
	js, stream := jetStream(t)
	pub, err := events.NewPublisher(js, events.StoreTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.NewPublisher(js, events.StoreTimeout(0)); !errors.Is(err, events.ErrInvalidOption) {
		t.Fatal("a zero store timeout was accepted")
	}
	ctx := context.Background()
	r := events.ActionResponse{
		CallID: "57DAB8B1894C409AB240BD8BEAE78896", Action: "playPrompt", ClientContext: "bot.cc/1 *", HTTPStatus: 200,
		Operation: json.RawMessage(`{"@odata.type":"#microsoft.graph.playPromptOperation","id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5","status":"running"}`),
	}
	id, err := pub.PublishResponse(ctx, r)
	if err != nil || id == "" {
		t.Fatalf("PublishResponse = %q, %v", id, err)
	}
	if again, err := pub.PublishResponse(ctx, r); err != nil || again != id { // a retry
		t.Fatalf("retry: PublishResponse = %q, %v; want %q", again, err, id)
	}
	info, _ := stream.Info(ctx)
	if info.State.Msgs != 1 {
		t.Fatalf("%d messages stored, want 1", info.State.Msgs)
	}
	m, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := events.SubjectInPrefix + "op." + events.Key("bot.cc/1 *"); m.Subject != want {
		t.Fatalf("subject %q, want %q", m.Subject, want)
	}
	e, err := events.DecodeMsg(m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID() != id || e.Type() != events.TypeActionResponse || e.Subject() != "bot.cc/1 *" ||
		e.Source() != "/communications/calls/57dab8b1-894c-409a-b240-bd8beae78896" {
		t.Fatalf("stored event %v", e)
	}

	bad := r
	bad.ClientContext, bad.Operation = "", nil
	if id, err := pub.PublishResponse(ctx, bad); !errors.Is(err, events.ErrInvalidPayload) || id != "" {
		t.Fatalf("null operation without clientContext: PublishResponse = %q, %v", id, err)
	}
	if info, _ := stream.Info(ctx); info.State.Msgs != 1 {
		t.Fatal("an invalid response was stored")
	}
}
