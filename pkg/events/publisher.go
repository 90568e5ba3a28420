package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/jsutil"
)

// Publisher stores inbound events in COMMS_IN: the ingest uses it for every
// callback, and a bot can use it to store its action responses straight into
// JetStream without going through HTTP. Safe for concurrent use. It does not
// own the JetStream context: closing that is the caller's business.
type Publisher struct {
	js      jetstream.JetStream
	timeout time.Duration
}

// NewPublisher returns a Publisher over js. It returns an error wrapping
// ErrInvalidOption for a nil js, a nil option or an option with an
// impossible value.
func NewPublisher(js jetstream.JetStream, opts ...PublisherOption) (*Publisher, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: nil JetStream", ErrInvalidOption)
	}
	c := publisherConfig{storeTimeout: DefaultStoreTimeout}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil PublisherOption", ErrInvalidOption)
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	return &Publisher{js: js, timeout: c.storeTimeout}, nil
}

// Store publishes every event asynchronously with its id as Nats-Msg-Id and
// waits until JetStream has acknowledged all of them. It returns nil only when
// every event is stored (a duplicate counts as stored); ErrTooLarge or
// ErrNotCloudEvent, before publishing anything, for a batch that can never be
// stored (an event that does not encode, has more than MaxHeaderBytes of
// headers or exceeds the server's max_payload); else ErrNotStored wrapping
// the first failure (ErrTooLarge too when the stream refused an event's
// size after the check, e.g. after a max_payload change).
func (p *Publisher) Store(ctx context.Context, in []Inbound) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	// Every event is encoded and measured before the first is published, so
	// a batch that cannot be stored stores nothing.
	var maxPayload int64
	if nc := p.js.Conn(); nc != nil {
		maxPayload = nc.MaxPayload()
	}
	pubs := make([]jsutil.Pub, 0, len(in))
	for i, ev := range in {
		msg, err := EncodeMsg(ev.Subject, ev.Event)
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		hdr := ev.headerSize()
		if hdr > MaxHeaderBytes {
			return fmt.Errorf("%w: event %d has %d bytes of headers, at most %d", ErrTooLarge, i, hdr, MaxHeaderBytes)
		}
		if size := int64(hdr + len(msg.Data)); maxPayload > 0 && size > maxPayload {
			return fmt.Errorf("%w: event %d is %d bytes, the server's max_payload %d", ErrTooLarge, i, size, maxPayload)
		}
		pubs = append(pubs, jsutil.Pub{Msg: msg, Opts: []jetstream.PublishOpt{jetstream.WithMsgID(ev.Event.ID()), jetstream.WithExpectStream(StreamIn)}})
	}
	if _, err := jsutil.PublishAll(ctx, p.js, pubs...); err != nil {
		return fmt.Errorf("%w: %w", ErrNotStored, sizeError(err))
	}
	return nil
}

// sizeError returns err also wrapping ErrTooLarge when it says a message is
// too large for the connection or the stream: retrying cannot store it.
func sizeError(err error) error {
	var apiErr *jetstream.APIError
	if errors.Is(err, nats.ErrMaxPayload) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum) {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return err
}

// PublishResponse validates an action response as the ingest would, and stores
// it in COMMS_IN. It returns the stored Inbound (its Event.ID() identifies it).
func (p *Publisher) PublishResponse(ctx context.Context, r ActionResponse) (Inbound, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return Inbound{}, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	parsed, err := ParseActionResponse(body)
	if err != nil {
		return Inbound{}, err
	}
	in, err := ResponseEvent(parsed, body, InboundOptions{})
	if err != nil {
		return Inbound{}, err
	}
	return in, p.Store(ctx, []Inbound{in})
}
