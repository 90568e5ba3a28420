package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// StoreResponse stores a bot's action response in COMMS_IN as evidence, as
// POST /v1/responses does, and returns once JetStream acknowledged it. The
// response is validated as there (ParseActionResponse); storing the same
// response again is deduplicated by the stream.
func (p *Publisher) StoreResponse(ctx context.Context, r ActionResponse) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%w: action response: %v", ErrInvalidPayload, err)
	}
	parsed, err := ParseActionResponse(body)
	if err != nil {
		return err
	}
	in, err := ResponseEvent(parsed, body, InboundOptions{ReceivedAt: time.Now()})
	if err != nil {
		return err
	}
	return p.Store(ctx, []Inbound{in})
}
