package streams

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

func TestEnsurePartitionsKeysAndIsIdempotent(t *testing.T) {
	srv := natstest.Run(t)
	_, js := natstest.Connect(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	l, err := Ensure(ctx, js, Config{Partitions: 8})
	if err != nil {
		t.Fatal(err)
	}
	if l.Partitions != 8 {
		t.Fatalf("partitions = %d, want 8", l.Partitions)
	}
	// A second process asking for another count keeps the stream's own.
	l2, err := Ensure(ctx, js, Config{Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	if l2.Partitions != 8 {
		t.Fatalf("existing stream re-partitioned: %d", l2.Partitions)
	}

	inStream, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c", events.Key("x.y z*>")}
	partOf := map[string]int{}
	for round := 0; round < 2; round++ {
		for _, k := range keys {
			ack, err := js.Publish(ctx, inbound.InSubject(graphwire.KindOperation, k), []byte("{}"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := inStream.GetMsg(ctx, ack.Sequence)
			if err != nil {
				t.Fatal(err)
			}
			in, err := subjects.ParseStoredIn(m.Subject)
			if err != nil {
				t.Fatalf("stored subject %q: %v", m.Subject, err)
			}
			if in.Key != k || in.Kind != string(graphwire.KindOperation) || in.Partition < 0 || in.Partition >= 8 {
				t.Fatalf("stored %+v for key %q", in, k)
			}
			if p, seen := partOf[k]; seen && p != in.Partition {
				t.Fatalf("key %q moved from partition %d to %d", k, p, in.Partition)
			}
			partOf[k] = in.Partition
		}
	}
	s, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Storage; got != jetstream.FileStorage {
		t.Fatalf("storage = %v", got)
	}
}
