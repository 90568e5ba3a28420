package jsutil

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/natstest"
)

// setup returns a JetStream context on a fresh server with stream S on "s.>".
func setup(t *testing.T) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	srv := natstest.Run(t)
	_, js := natstest.Connect(t, srv.URL())
	s, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	if err != nil {
		t.Fatal(err)
	}
	return js, s
}

// TestPublishAll: every message is stored and acked in order; a refused one
// fails the call with its subject and the server's error.
func TestPublishAll(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	acks, err := PublishAll(ctx, js,
		Pub{Msg: &nats.Msg{Subject: "s.a", Data: []byte("1")}},
		Pub{Msg: &nats.Msg{Subject: "s.b", Data: []byte("2")}, Opts: []jetstream.PublishOpt{jetstream.WithMsgID("b")}},
		Pub{Msg: &nats.Msg{Subject: "s.c", Data: []byte("3")}})
	if err != nil {
		t.Fatal(err)
	}
	for i, ack := range acks {
		if ack.Stream != "S" || ack.Sequence != uint64(i+1) {
			t.Errorf("ack %d: %+v, want stream S sequence %d", i, ack, i+1)
		}
	}
	_, err = PublishAll(ctx, js,
		Pub{Msg: &nats.Msg{Subject: "s.d"}},
		Pub{Msg: &nats.Msg{Subject: "s.e"}, Opts: []jetstream.PublishOpt{jetstream.WithExpectStream("OTHER")}})
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 400 {
		t.Fatalf("expected-stream mismatch: %v, want the server's 400", err)
	}
	if want := "publish s.e: "; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("error %q does not name the subject", err)
	}
}

// TestKeepAlive: a message kept alive is not redelivered past its AckWait;
// once stopped, it is.
func TestKeepAlive(t *testing.T) {
	js, s := setup(t)
	ctx := context.Background()
	if _, err := js.Publish(ctx, "s.x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	const ackWait = 500 * time.Millisecond
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(wait time.Duration) jetstream.Msg {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(wait))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			return m
		}
		return nil
	}
	m := fetch(time.Second)
	if m == nil {
		t.Fatal("no message")
	}
	rounds := 0
	stop := KeepAlive(0, ackWait/4, func() []jetstream.Msg { rounds++; return []jetstream.Msg{m} })
	// Three AckWaits: the message would have been redelivered twice.
	if again := fetch(3 * ackWait); again != nil {
		stop()
		t.Fatal("a message kept alive was redelivered")
	}
	stop()
	if rounds < 4 {
		t.Errorf("%d keep-alive rounds in 3 AckWaits, want one every AckWait/4", rounds)
	}
	again := fetch(5 * ackWait)
	if again == nil {
		t.Fatal("not redelivered after the keep-alive stopped")
	}
	if meta, err := again.Metadata(); err != nil || meta.NumDelivered != 2 {
		t.Fatalf("redelivery metadata %+v, %v; want the second delivery", meta, err)
	}
}
