package graphwire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/internal/jsonx"
)

// ActionResponse is the envelope a bot posts after each action it sent to
// Graph: the HTTP status Graph answered and the commsOperation it returned
// (nil for a 202 with no body). It is events.ActionResponse's twin, field
// for field and tag for tag, so each converts to the other.
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

// ParsedResponse is a validated ActionResponse with its operation parsed.
type ParsedResponse struct {
	ActionResponse
	// Op is the parsed operation, nil for a null operation.
	Op *Operation
}

// ParseActionResponse parses and validates an action-response envelope. It
// requires callId, action and an httpStatus in 100..599; a clientContext when
// the operation is null; and, when both the envelope and the operation carry a
// clientContext, that they agree. When only the operation carries one, it
// becomes the envelope's. Errors wrap evterr.ErrInvalidJSON, evterr.ErrInvalidPayload,
// evterr.ErrInvalidStatus, evterr.ErrTooDeep or the clientContext errors and name the field.
func ParseActionResponse(body []byte) (*ParsedResponse, error) {
	if err := checkDepth(body); err != nil {
		return nil, fmt.Errorf("action response: %w", err)
	}
	if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("action response: %w: not a JSON object", evterr.ErrInvalidJSON)
	}
	var r ParsedResponse
	if err := decodeActionResponse(body, &r.ActionResponse); err != nil {
		return nil, fmt.Errorf("action response: %w", err)
	}
	switch {
	case strings.TrimSpace(r.CallID) == "":
		return nil, fmt.Errorf("action response: %w: callId is required", evterr.ErrInvalidPayload)
	case strings.TrimSpace(r.Action) == "":
		return nil, fmt.Errorf("action response: %w: action is required", evterr.ErrInvalidPayload)
	case r.HTTPStatus < 100 || r.HTTPStatus > 599:
		return nil, fmt.Errorf("action response: %w: httpStatus %d is not an HTTP status", evterr.ErrInvalidPayload, r.HTTPStatus)
	}
	if err := graphid.ValidateClientContext(r.ClientContext); err != nil {
		return nil, fmt.Errorf("action response: clientContext: %w", err)
	}
	if !isNull(r.Operation) {
		op, err := parseOperation(r.Operation)
		if err != nil {
			return nil, fmt.Errorf("action response: %w", err)
		}
		r.Op = op
		switch {
		case r.ClientContext == "":
			r.ClientContext = op.ClientContext
		case op.ClientContext != "" && op.ClientContext != r.ClientContext:
			return nil, fmt.Errorf("action response: %w: clientContext %s differs from operation.clientContext %s",
				evterr.ErrInvalidPayload, quoteShort(r.ClientContext), quoteShort(op.ClientContext))
		}
	} else if r.ClientContext == "" {
		return nil, fmt.Errorf("action response: %w: clientContext is required when operation is null", evterr.ErrInvalidPayload)
	}
	return &r, nil
}

// decodeActionResponse reads a valid JSON object into r as encoding/json
// would. It returns evterr.ErrInvalidPayload naming the first member of the wrong
// type, and ErrDuplicateMember for two members naming one field.
func decodeActionResponse(body []byte, r *ActionResponse) error {
	var buf [8]jsonx.Member
	// The envelope is read as encoding/json reads it into ActionResponse:
	// names in any casing, unknown members ignored, null leaves a field zero.
	// A field named twice (in any casing) is refused: encoding/json keeps the
	// last, other readers of the stored body may keep the first.
	known := jsonx.KnownFields{Names: envelopeFields[:]}
	for _, m := range jsonx.AppendMembers(buf[:0], body) {
		i, err := known.Match(m.Name)
		if err != nil {
			return err
		}
		switch i {
		case 0:
			err = setString(&r.CallID, m.Value)
		case 1:
			err = setString(&r.Action, m.Value)
		case 2:
			err = setString(&r.ClientContext, m.Value)
		case 3:
			err = setInt(&r.HTTPStatus, m.Value)
		case 4:
			r.Operation = json.RawMessage(m.Value)
		case 5:
			if err = r.SentAt.UnmarshalJSON(m.Value); err != nil { // time's message quotes the value
				err = fmt.Errorf("%s is not an RFC 3339 time", quoteShort(m.Value))
			}
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", evterr.ErrInvalidPayload, envelopeFields[i], err)
		}
	}
	return nil
}

// envelopeFields are ActionResponse's JSON names, in decodeActionResponse's order.
var envelopeFields = [...]string{"callId", "action", "clientContext", "httpStatus", "operation", "sentAt"}

// setInt stores a valid JSON number in *dst as encoding/json decodes into an
// int field: null leaves *dst alone; a fraction, exponent or other type is an
// error.
func setInt(dst *int, v []byte) error {
	if isNull(v) {
		return nil
	}
	if v[0] != '-' && (v[0] < '0' || v[0] > '9') {
		return fmt.Errorf("expected an integer, got %s", kindOf(v))
	}
	n, err := strconv.ParseInt(string(v), 10, strconv.IntSize)
	if err != nil {
		return fmt.Errorf("expected an integer, got %s", quoteShort(v))
	}
	*dst = int(n)
	return nil
}

// NormalizedCallID returns CallID in the canonical form of Graph ids:
// trimmed, braces removed, lower-case, a GUID written 8-4-4-4-12.
func (r *ActionResponse) NormalizedCallID() string { return graphid.NormalizeID(r.CallID) }

// actionTypes maps action names to the operation type Graph returns for them,
// so a null operation (202, no body) can still be matched to its notifications.
var actionTypes = map[string]string{
	"playprompt":            "#microsoft.graph.playPromptOperation",
	"record":                "#microsoft.graph.recordOperation",
	"recordresponse":        "#microsoft.graph.recordOperation",
	"subscribetotone":       "#microsoft.graph.subscribeToToneOperation",
	"senddtmftones":         "#microsoft.graph.sendDtmfTonesOperation",
	"cancelmediaprocessing": "#microsoft.graph.cancelMediaProcessingOperation",
	"mute":                  "#microsoft.graph.muteParticipantOperation",
	"participant/mute":      "#microsoft.graph.muteParticipantOperation",
	"participants/mute":     "#microsoft.graph.muteParticipantOperation",
	"unmute":                "#microsoft.graph.unmuteParticipantOperation",
	"invite":                "#microsoft.graph.inviteParticipantsOperation",
	"participants/invite":   "#microsoft.graph.inviteParticipantsOperation",
	"startholdmusic":        "#microsoft.graph.startHoldMusicOperation",
	"stopholdmusic":         "#microsoft.graph.stopHoldMusicOperation",
	"updaterecordingstatus": "#microsoft.graph.updateRecordingStatusOperation",
	"addlargegalleryview":   "#microsoft.graph.addLargeGalleryViewOperation",
	"mutemultiple":          "#microsoft.graph.muteParticipantsOperation",
}

// OperationTypeForAction returns the @odata.type Graph uses for the operation of
// an action name ("playPrompt", "participants/invite", any casing, with or
// without a leading path), or "" when unknown.
func OperationTypeForAction(action string) string {
	a := strings.ToLower(strings.Trim(strings.TrimSpace(action), "/"))
	if t, ok := actionTypes[a]; ok {
		return t
	}
	if i := strings.LastIndex(a, "/"); i >= 0 {
		return actionTypes[a[i+1:]]
	}
	return ""
}
