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

// TestPublishAllWithin: a publish whose ack never comes fails once the
// timeout passes, as under a context with that deadline, or once ctx is
// cancelled; a timer that expired unread goes back to the pool with nothing
// left in its channel, so no later publish fails before its own timeout.
func TestPublishAllWithin(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	// A core subscriber on a subject no stream holds: it takes the message
	// and never answers, so no ack (and no "no responders") comes back.
	sub, err := js.Conn().SubscribeSync("silent.x")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for _, tc := range []struct {
		name    string
		subject string
		timeout time.Duration
		expired bool
	}{
		{"no ack: times out", "silent.x", 50 * time.Millisecond, true},
		{"times out again, shorter", "silent.x", 20 * time.Millisecond, true},
		{"acked after a timed-out one", "s.a", 50 * time.Millisecond, false},
		{"acked, with no timeout", "s.b", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			acks, err := PublishAllWithin(ctx, js, tc.timeout, Pub{Msg: &nats.Msg{Subject: tc.subject, Data: []byte("x")}})
			if !tc.expired {
				if err != nil || len(acks) != 1 || acks[0].Stream != "S" {
					t.Fatalf("acks %v, err %v: want one ack from S", acks, err)
				}
				return
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v: want one wrapping context.DeadlineExceeded", err)
			}
			if waited := time.Since(start); waited < tc.timeout {
				t.Errorf("gave up after %v, before the %v timeout", waited, tc.timeout)
			}
		})
	}
	t.Run("ctx cancelled while waiting", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := PublishAllWithin(cctx, js, time.Hour, Pub{Msg: &nats.Msg{Subject: "silent.x"}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v: want one wrapping context.Canceled", err)
		}
	})
	t.Run("no stale expiry from a pooled timer", func(t *testing.T) {
		// Timeouts about as long as an ack's round trip: some fire while the
		// ack wins the select. A timer pooled with that expiry still in its
		// channel would fail the next call at once, however long its
		// timeout.
		for i := range 2000 {
			short := time.Duration(1+i%400) * time.Microsecond
			if _, err := PublishAllWithin(ctx, js, short, Pub{Msg: &nats.Msg{Subject: "s.c"}}); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("round %d, %v timeout: %v", i, short, err)
			}
			if _, err := PublishAllWithin(ctx, js, 10*time.Second, Pub{Msg: &nats.Msg{Subject: "s.c"}}); err != nil {
				t.Fatalf("round %d: a publish after a %v one failed: %v", i, short, err)
			}
		}
	})
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

// TestLeaderGet: LeaderGet reads by sequence, next and last by subject, with
// headers, and says ErrMsgNotFound when nothing matches. A mirror that lacks
// messages answers direct gets for its origin (as a replica behind its
// leader does): Stream.GetMsg then misses messages, LeaderGet never.
func TestLeaderGet(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "D", Subjects: []string{"d.>"}, AllowDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, subj := range []string{"d.a", "d.b", "d.a", "d.b"} {
		msg := &nats.Msg{Subject: subj, Data: []byte{byte('0' + i)}, Header: nats.Header{"X-I": []string{string(rune('0' + i))}}}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		req     LeaderGetRequest
		wantSeq uint64 // 0: not found
	}{
		{"by sequence", LeaderGetRequest{Seq: 2}, 2},
		{"next by subject", LeaderGetRequest{Seq: 3, NextBySubject: "d.b"}, 4},
		{"next by wildcard", LeaderGetRequest{Seq: 2, NextBySubject: "d.*"}, 2},
		{"last by subject", LeaderGetRequest{LastBySubject: "d.a"}, 3},
		{"none next", LeaderGetRequest{Seq: 5, NextBySubject: "d.b"}, 0},
		{"none at sequence", LeaderGetRequest{Seq: 9}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := LeaderGet(ctx, js, "D", tt.req)
			if tt.wantSeq == 0 {
				if !errors.Is(err, jetstream.ErrMsgNotFound) {
					t.Fatalf("got %v, %v; want ErrMsgNotFound", m, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			i := byte(tt.wantSeq - 1)
			if m.Sequence != tt.wantSeq || string(m.Data) != string([]byte{'0' + i}) || m.Header.Get("X-I") != string(rune('0'+i)) || m.Time.IsZero() {
				t.Fatalf("got seq %d data %q header %v time %v, want seq %d", m.Sequence, m.Data, m.Header, m.Time, tt.wantSeq)
			}
		})
	}
	if _, err := LeaderGet(ctx, js, "NONE", LeaderGetRequest{Seq: 1}); err == nil {
		t.Fatal("a get from a stream that does not exist succeeded")
	}

	// A mirror of d.a alone, answering direct gets for D.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Mirror: &jetstream.StreamSource{Name: "D", FilterSubject: "d.a"}, MirrorDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := js.Stream(ctx, "M")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); mirror.CachedInfo().State.Msgs < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the mirror did not catch up")
		}
		time.Sleep(10 * time.Millisecond)
		if _, err := mirror.Info(ctx); err != nil {
			t.Fatal(err)
		}
	}
	missed := 0
	for range 32 {
		if _, err := s.GetMsg(ctx, 4, jetstream.WithGetMsgSubject("d.b")); errors.Is(err, jetstream.ErrMsgNotFound) {
			missed++
		}
		m, err := LeaderGet(ctx, js, "D", LeaderGetRequest{Seq: 4, NextBySubject: "d.b"})
		if err != nil || m.Sequence != 4 {
			t.Fatalf("leader get: %v, %v; want sequence 4", m, err)
		}
	}
	if missed == 0 {
		t.Fatal("no direct get was answered by the mirror: the test shows nothing")
	}
	t.Logf("direct gets answered by the mirror: %d of 32", missed)
}
