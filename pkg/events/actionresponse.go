package events

import (
	"encoding/json"
	"time"

	"github.com/commsops/commsops/internal/graphid"
)

// ActionResponse is the envelope a bot posts after each action it sent to
// Graph: the HTTP status Graph answered and the commsOperation it returned
// (nil for a 202 with no body).
type ActionResponse struct {
	// CallID as the bot sent it; NormalizedCallID() for comparisons.
	CallID string `json:"callId"`
	// Action is the action's name, e.g. "playPrompt", "participants/invite".
	Action string `json:"action"`
	// ClientContext is the one the bot sent with the action.
	ClientContext string `json:"clientContext,omitempty"`
	// HTTPStatus is the status Graph answered the action with.
	HTTPStatus int `json:"httpStatus"`
	// Operation is Graph's response body, raw; nil or "null" for a null operation.
	Operation json.RawMessage `json:"operation"`
	// SentAt is when the bot sent the action; zero when not given.
	SentAt time.Time `json:"sentAt,omitzero"`
}

// NormalizedCallID returns CallID in the canonical form of Graph ids:
// trimmed, braces removed, lower-case, a GUID written 8-4-4-4-12.
func (r *ActionResponse) NormalizedCallID() string { return graphid.NormalizeID(r.CallID) }
