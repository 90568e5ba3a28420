package jsutil

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Pub is one message to publish, with its publish options.
type Pub struct {
	Msg  *nats.Msg
	Opts []jetstream.PublishOpt
}

// PublishAll sends every message with PublishMsgAsync, all before waiting,
// then waits for each ack in order. It returns the acks in the order of pubs,
// or the first failure ("publish <subject>: ..." wrapping the client's or
// the server's error, or ctx's); messages before the failing one may be
// stored.
func PublishAll(ctx context.Context, js jetstream.JetStream, pubs ...Pub) ([]*jetstream.PubAck, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(pubs))
	for _, p := range pubs {
		f, err := js.PublishMsgAsync(p.Msg, p.Opts...)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", p.Msg.Subject, err)
		}
		futures = append(futures, f)
	}
	acks := make([]*jetstream.PubAck, len(futures))
	for i, f := range futures {
		select {
		case acks[i] = <-f.Ok():
		case err := <-f.Err():
			return nil, fmt.Errorf("publish %s: %w", pubs[i].Msg.Subject, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("publish %s: %w", pubs[i].Msg.Subject, ctx.Err())
		}
	}
	return acks, nil
}
