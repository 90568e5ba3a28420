package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
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

// pipeline runs a server, an ingest and a resolver, and points opsctl at them.
func pipeline(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	srv := natstest.Run(t)
	t.Setenv("NATS_URL", srv.URL())
	_, js := natstest.Connect(t, srv.URL())
	ctx := context.Background()
	layout, err := streams.Ensure(ctx, js, streams.Config{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub, _ := events.NewPublisher(js)
	h, _ := ingest.NewHandler(ingest.Options{Store: pub, Log: log})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	w, err := resolver.NewWorker(ctx, js, layout.State, layout.Partitions, resolver.Config{WorkerID: "w"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	return ts.URL, js
}

func opsctl(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("opsctl %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

func TestOpsctl(t *testing.T) {
	url, js := pipeline(t)

	// tail, started before anything happens.
	tailOut := &syncBuffer{}
	tctx, stopTail := context.WithCancel(context.Background())
	tailDone := make(chan error, 1)
	go func() { tailDone <- run(tctx, []string{"tail", "-status", "completed"}, tailOut, io.Discard) }()
	time.Sleep(300 * time.Millisecond)

	out := opsctl(t, "demo", "-url", url)
	if !strings.Contains(out, "fed 12 requests") {
		t.Fatalf("demo: %s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(tailOut.String(), "completed") < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stopTail()
	if err := <-tailDone; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(tailOut.String(), " completed "); n != 4 || strings.Contains(tailOut.String(), " running ") {
		t.Fatalf("tail -status completed printed:\n%s", tailOut.String())
	}

	t.Run("get", func(t *testing.T) {
		out := opsctl(t, "get", "d45324c1-fcb5-430a-902c-f20af696537c")
		for _, want := range []string{"status completed", "raceDetected true", "response #", "(absorbed)"} {
			if !strings.Contains(out, want) {
				t.Errorf("get lacks %q:\n%s", want, out)
			}
		}
		var errOut bytes.Buffer
		if err := run(context.Background(), []string{"get", "no-such-cc"}, io.Discard, &errOut); err == nil || !strings.Contains(err.Error(), "no state") {
			t.Errorf("unknown clientContext: %v", err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		out := opsctl(t, "replay", "-since", "1", "-cc", "rec-7f3a")
		if strings.Count(out, "\n") != 2 || !strings.Contains(out, "running") || !strings.Contains(out, "failed") {
			t.Fatalf("replay:\n%s", out)
		}
		if out := opsctl(t, "replay", "-since", "2000-01-01T00:00:00Z", "-json"); strings.Count(out, "\n") != 8 {
			t.Fatalf("replay since a time printed %d lines:\n%s", strings.Count(out, "\n"), out)
		}
	})
	t.Run("dlq", func(t *testing.T) {
		if out := opsctl(t, "dlq", "list"); !strings.Contains(out, "no dead letters") {
			t.Fatalf("empty list: %s", out)
		}
		ctx := context.Background()
		stored := events.SubjectInPrefix + "1.op.poisoned"
		dl := &nats.Msg{Subject: events.DeadLetterSubject(events.StreamIn, "poisoned"), Data: []byte("garbage"), Header: nats.Header{
			resolver.HeaderDLQReason: {"not a CloudEvent"}, resolver.HeaderDLQSubject: {stored}, resolver.HeaderDLQSeq: {"42"},
			resolver.HeaderDLQDeliveries: {"1"}, resolver.HeaderDLQStream: {events.StreamIn}, "X-Original": {"kept"}}}
		if _, err := js.PublishMsg(ctx, dl); err != nil {
			t.Fatal(err)
		}
		if out := opsctl(t, "dlq", "list"); !strings.Contains(out, "not a CloudEvent") || !strings.Contains(out, stored) {
			t.Fatalf("list: %s", out)
		}
		out := opsctl(t, "dlq", "redrive", "-all")
		if !strings.Contains(out, "redrove #1") {
			t.Fatalf("redrive: %s", out)
		}
		in, _ := js.Stream(ctx, events.StreamIn)
		m, err := in.GetLastMsgForSubject(ctx, events.SubjectInPrefix+"*.op.poisoned")
		if err != nil {
			t.Fatalf("redriven message not in COMMS_IN: %v", err)
		}
		if string(m.Data) != "garbage" || m.Header.Get("X-Original") != "kept" || m.Header.Get(resolver.HeaderDLQReason) != "" {
			t.Fatalf("redriven message %q %v", m.Data, m.Header)
		}
	})
	t.Run("errors say what to do", func(t *testing.T) {
		for _, args := range [][]string{{"replay"}, {"dlq", "redrive"}, {"nope"}, {"replay", "-since", "yesterday"}} {
			err := run(context.Background(), args, io.Discard, io.Discard)
			if err == nil || len(err.Error()) < 10 {
				t.Errorf("opsctl %v: %v", args, err)
			}
		}
	})
}

func TestOpsctlWithoutNATS(t *testing.T) {
	t.Setenv("NATS_URL", "")
	t.Setenv("COMMSOPS_DEV_PORT", "1")
	err := run(context.Background(), []string{"get", "x"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "devstack") {
		t.Fatalf("err = %v", err)
	}
}
