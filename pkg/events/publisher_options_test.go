package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

// TestNewPublisherRejects: a nil JetStream, a nil option and an impossible
// option value are refused with ErrInvalidOption, as NewSubscriber and
// NewOperations refuse theirs.
func TestNewPublisherRejects(t *testing.T) {
	js, _ := jetStream(t)
	cases := []struct {
		name string
		js   jetstream.JetStream
		opts []events.PublisherOption
	}{
		{"nil JetStream", nil, nil},
		{"nil option", js, []events.PublisherOption{nil}},
		{"zero StoreTimeout", js, []events.PublisherOption{events.StoreTimeout(0)}},
		{"negative StoreTimeout", js, []events.PublisherOption{events.StoreTimeout(-time.Second)}},
		{"valid then nil", js, []events.PublisherOption{events.StoreTimeout(time.Second), nil}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := events.NewPublisher(c.js, c.opts...)
			if !errors.Is(err, events.ErrInvalidOption) || p != nil {
				t.Fatalf("NewPublisher = %v, %v; want ErrInvalidOption", p, err)
			}
		})
	}
}

// TestStoreTimeoutBoundsStore: with no deadline on the context, Store gives
// up after the StoreTimeout when no ack comes, and
// says the batch was not stored.
func TestStoreTimeoutBoundsStore(t *testing.T) {
	for _, opt := range []struct {
		name string
		opt  events.PublisherOption
	}{
		{"StoreTimeout", events.StoreTimeout(50 * time.Millisecond)},
	} {
		t.Run(opt.name, func(t *testing.T) {
			js, stream := jetStream(t)
			// Without the stream, a silent subscriber takes every message and
			// acks none: only the timeout ends Store.
			if err := js.DeleteStream(context.Background(), stream.CachedInfo().Config.Name); err != nil {
				t.Fatal(err)
			}
			sub, err := js.Conn().SubscribeSync(events.SubjectInPrefix + ">")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			p, err := events.NewPublisher(js, opt.opt)
			if err != nil {
				t.Fatal(err)
			}
			r := events.ActionResponse{CallID: "c1", Action: "playPrompt", ClientContext: "cc-1", HTTPStatus: 200,
				Operation: json.RawMessage(`{"id":"op-1","status":"running"}`)}
			start := time.Now()
			_, err = p.PublishResponse(context.Background(), r)
			if !errors.Is(err, events.ErrNotStored) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("PublishResponse = %v; want ErrNotStored after the store timeout", err)
			}
			// The option took effect: the default would have waited 5s. (A
			// functional check with a 100x margin, not a speed target.)
			if waited := time.Since(start); waited >= events.DefaultStoreTimeout {
				t.Fatalf("Store waited %v, the default timeout, not the option's", waited)
			}
			if _, err := sub.NextMsg(time.Second); err != nil {
				t.Fatalf("the event was never sent: %v", err)
			}
		})
	}
}
