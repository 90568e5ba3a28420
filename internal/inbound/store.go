package inbound

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/jsutil"
)

// Store publishes every event asynchronously with its id as Nats-Msg-Id and
// waits until JetStream has acknowledged all of them, for at most timeout
// when ctx has no deadline. It returns nil only when every event is stored
// (a duplicate counts as stored); ErrTooLarge or ErrNotCloudEvent, before
// publishing anything, for a batch that can never be stored (an event that
// does not encode, has more than MaxHeaderBytes of headers or exceeds the
// server's max_payload); else ErrNotStored wrapping the first failure
// (ErrTooLarge too when the stream refused an event's size after the check,
// e.g. after a max_payload change).
func Store(ctx context.Context, js jetstream.JetStream, timeout time.Duration, in []Inbound) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// Every event is encoded and measured before the first is published, so
	// a batch that cannot be stored stores nothing.
	var maxPayload int64
	if nc := js.Conn(); nc != nil {
		maxPayload = nc.MaxPayload()
	}
	pubs := make([]jsutil.Pub, 0, len(in))
	for i, ev := range in {
		msg, err := ev.msg()
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		hdr := ev.hdr
		if hdr > MaxHeaderBytes {
			return fmt.Errorf("%w: event %d has %d bytes of headers, at most %d", evterr.ErrTooLarge, i, hdr, MaxHeaderBytes)
		}
		if size := int64(hdr + len(msg.Data)); maxPayload > 0 && size > maxPayload {
			return fmt.Errorf("%w: event %d is %d bytes, the server's max_payload %d", evterr.ErrTooLarge, i, size, maxPayload)
		}
		pubs = append(pubs, jsutil.Pub{Msg: msg, Opts: []jetstream.PublishOpt{jetstream.WithMsgID(ev.id), jetstream.WithExpectStream(StreamIn)}})
	}
	if _, err := jsutil.PublishAll(ctx, js, pubs...); err != nil {
		return fmt.Errorf("%w: %w", evterr.ErrNotStored, sizeError(err))
	}
	return nil
}

// sizeError returns err also wrapping ErrTooLarge when it says a message is
// too large for the connection or the stream: retrying cannot store it.
func sizeError(err error) error {
	var apiErr *jetstream.APIError
	if errors.Is(err, nats.ErrMaxPayload) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum) {
		return fmt.Errorf("%w: %w", evterr.ErrTooLarge, err)
	}
	return err
}

// Storer stores batches in COMMS_IN through JS with Store, waiting at most
// Timeout (which must then be positive) when the context has no deadline.
// The ingest's Handler stores through one.
type Storer struct {
	JS      jetstream.JetStream
	Timeout time.Duration
}

// Store is Store(ctx, s.JS, s.Timeout, in).
func (s Storer) Store(ctx context.Context, in []Inbound) error {
	return Store(ctx, s.JS, s.Timeout, in)
}
