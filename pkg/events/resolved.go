package events

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SourceKind says what a piece of evidence was.
type SourceKind string

// The kinds of evidence.
const (
	SourceNotification SourceKind = "notification"
	SourceResponse     SourceKind = "response"
	SourceStallTimer   SourceKind = "stallTimer"
)

// Source is one piece of evidence merged into an operation.
type Source struct {
	Kind       SourceKind `json:"kind"`
	ReceivedAt time.Time  `json:"receivedAt"`
	StreamSeq  uint64     `json:"streamSeq,omitempty"`
	// Status is the status this evidence reported, "" when it reported none.
	Status Status `json:"status,omitempty"`
	// Absorbed is set on evidence that reported an older status than the
	// operation already had (the race) or a conflicting terminal one.
	Absorbed bool `json:"absorbed,omitempty"`
}

// ResolvedOperation is the data of a resolved operation event: the merged truth
// about one operation when it reached Status.
type ResolvedOperation struct {
	ClientContext    string      `json:"clientContext"`
	CallID           string      `json:"callId"`
	OperationID      string      `json:"operationId"`
	ODataType        string      `json:"odataType"`
	Status           Status      `json:"status"`
	ResultInfo       *ResultInfo `json:"resultInfo,omitempty"`
	CompletionReason string      `json:"completionReason,omitempty"`
	RaceDetected     bool        `json:"raceDetected"`
	Sources          []Source    `json:"sources"`
	FirstSeenAt      time.Time   `json:"firstSeenAt"`
	ResolvedAt       time.Time   `json:"resolvedAt"`
	// Extra holds further operation fields as received (latest value wins); they
	// are marshalled at the top level beside the fields above, never over them.
	Extra map[string]json.RawMessage `json:"-"`
}

type resolvedAlias ResolvedOperation

// MarshalJSON writes the named fields and then every Extra field whose name
// the named fields do not already use, in sorted order (see AppendJSON).
func (r ResolvedOperation) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil) }

// UnmarshalJSON reads the named fields and keeps the rest in Extra.
func (r *ResolvedOperation) UnmarshalJSON(b []byte) error {
	var a resolvedAlias
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("%w: resolved operation: %v", ErrInvalidPayload, err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return fmt.Errorf("%w: resolved operation: %v", ErrInvalidPayload, err)
	}
	for k := range all {
		if isResolvedField(k) {
			delete(all, k)
		}
	}
	if len(all) > 0 {
		a.Extra = all
	}
	*r = ResolvedOperation(a)
	return nil
}

var resolvedFieldNames = []string{"clientContext", "callId", "operationId", "odataType", "status", "resultInfo",
	"completionReason", "raceDetected", "sources", "firstSeenAt", "resolvedAt"}

// isResolvedField reports whether an object key would land in a named field.
// encoding/json matches keys case-insensitively (and the last duplicate wins),
// so an extra "Status" written after "status" would override it for any Go
// reader: such keys are named fields too.
func isResolvedField(k string) bool {
	return slices.ContainsFunc(resolvedFieldNames, func(n string) bool { return strings.EqualFold(n, k) })
}
