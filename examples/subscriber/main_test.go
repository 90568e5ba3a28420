package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestExampleRuns runs the example against an embedded server holding a few
// resolved events and checks what it prints.
func TestExampleRuns(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	defer srv.Shutdown()
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: events.StreamResolved, Subjects: []string{events.SubjectResolvedPrefix + ">"}}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []struct {
		cc     string
		status events.Status
	}{{"cc-1", events.StatusRunning}, {"cc-1", events.StatusCompleted}, {"cc-2", events.StatusFailed}} {
		e := event.New()
		e.SetID(ev.cc + string(ev.status))
		e.SetType(events.ResolvedType(ev.status))
		e.SetSource(events.ResolvedSource("call"))
		b, _ := json.Marshal(events.ResolvedOperation{ClientContext: ev.cc, OperationID: "op-" + ev.cc, Status: ev.status,
			ResultInfo: &events.ResultInfo{Code: 200}, Sources: []events.Source{}})
		_ = e.SetData(events.ContentTypeJSON, b)
		m, _ := events.EncodeMsg(events.ResolvedSubject(events.Key(ev.cc), ev.status), e)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	out := &syncBuffer{}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(rctx, srv.ClientURL(), out) }()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "completed cc-1 op=op-cc-1 code=200 race=false\nfailed cc-2 op=op-cc-2 code=200 race=false\n"
	if out.String() != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", out.String(), want)
	}
}
