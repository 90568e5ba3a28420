package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
)

// Publisher stores a bot's action responses in COMMS_IN straight through
// JetStream, as the ingest's /v1/responses would, without going through
// HTTP. Safe for concurrent use. It does not own the JetStream context:
// closing that is the caller's business.
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

// PublishResponse validates an action response as the ingest would, and
// stores it in COMMS_IN. It returns the stored event's id, content-derived:
// the same response stored again gets the same id and is kept once. When
// the response is valid but storing fails (ErrNotStored, ErrTooLarge) the
// id is still returned beside the error; for an invalid response it is "".
func (p *Publisher) PublishResponse(ctx context.Context, r ActionResponse) (id string, err error) {
	body, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	parsed, err := graphwire.ParseActionResponse(body)
	if err != nil {
		return "", err
	}
	in, err := inbound.ResponseEvent(parsed, body, inbound.Options{})
	if err != nil {
		return "", err
	}
	return in.ID(), inbound.Store(ctx, p.js, p.timeout, []inbound.Inbound{in})
}
