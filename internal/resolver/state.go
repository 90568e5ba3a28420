package resolver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/commsops/commsops/pkg/events"
)

// Bounds on what one key's state keeps.
const (
	// maxApplied is how many applied stream sequences a key remembers to
	// recognise redeliveries.
	maxApplied = 256
	// maxSources is how many pieces of evidence an operation lists; beyond it
	// the oldest after the first are dropped and counted.
	maxSources = 64
)

// KeyState is everything the resolver knows about one key (one clientContext,
// or one call/operation pair without a clientContext). It is stored as JSON in
// the COMMS_OPS bucket under the key.
type KeyState struct {
	Key string     `json:"key"`
	Ops []*OpState `json:"ops"`
	// Applied holds the stream sequences of the last maxApplied messages applied
	// (or dead-lettered), ascending.
	Applied []uint64 `json:"applied,omitempty"`
	// ResolvedSeq is the highest COMMS_RESOLVED sequence of this key's events
	// when the state was written: events on the key's subjects after it were
	// published by work not yet committed (publish comes before the write).
	ResolvedSeq uint64 `json:"resolvedSeq,omitempty"`

	// touched is the operation the last Apply merged evidence into.
	touched *OpState
}

// OpState is one operation's merged evidence.
type OpState struct {
	// Slot names the operation in event ids; fixed when the operation is first
	// seen ("id:<operation id>", or "seq:<stream seq>" when it had no id yet).
	Slot             string             `json:"slot"`
	ID               string             `json:"id,omitempty"`
	CallID           string             `json:"callId,omitempty"`
	ClientContext    string             `json:"clientContext,omitempty"`
	ODataType        string             `json:"odataType,omitempty"`
	Status           events.Status      `json:"status,omitempty"`
	Emitted          []events.Status    `json:"emitted,omitempty"`
	ResultInfo       *events.ResultInfo `json:"resultInfo,omitempty"`
	CompletionReason string             `json:"completionReason,omitempty"`
	RaceDetected     bool               `json:"raceDetected,omitempty"`
	Sources          []events.Source    `json:"sources"`
	SourcesDropped   int                `json:"sourcesDropped,omitempty"`
	FirstSeenAt      time.Time          `json:"firstSeenAt"`
	LastNewsAt       time.Time          `json:"lastNewsAt"`
	// NewsSeq is the stream sequence of the latest evidence merged; a stall
	// check scheduled for an older one is stale.
	NewsSeq uint64 `json:"newsSeq,omitempty"`
	// StallDue is when the operation's pending stall check fires; zero when
	// none was ever scheduled.
	StallDue time.Time                  `json:"stallDue,omitzero"`
	Extra    map[string]json.RawMessage `json:"extra,omitempty"`
}

// EmissionKind says what an Emission publishes.
type EmissionKind string

// Emission kinds.
const (
	// EmitResolved: a resolved event to COMMS_RESOLVED (the zero value).
	EmitResolved EmissionKind = ""
	// EmitStallSchedule: a stall check scheduled into COMMS_IN.
	EmitStallSchedule EmissionKind = "stallSchedule"
)

// Emission is one resolved event decided by Apply, or a stall check to
// schedule, ready to publish. It is never stored in the state.
type Emission struct {
	Kind EmissionKind
	// Stall schedules: when it fires, onto which stored subject, for which
	// operation slot and news.
	At      time.Time
	Target  string
	Slot    string
	NewsSeq uint64

	ID         string
	Subject    string
	Status     events.Status
	CallID     string
	ClientCtx  string
	ResolvedAt time.Time
	// Data is the resolved event's data (JSON).
	Data []byte
	// TraceParent is the W3C trace context of the evidence that caused it.
	TraceParent string
}

// HasApplied reports whether the message at stream sequence seq was already
// applied to this state. A sequence older than everything remembered, when the
// memory is full, counts as applied.
func (s *KeyState) HasApplied(seq uint64) bool {
	if _, found := slices.BinarySearch(s.Applied, seq); found {
		return true
	}
	return len(s.Applied) >= maxApplied && seq < s.Applied[0]
}

// markApplied records seq, keeping Applied sorted and bounded.
func (s *KeyState) markApplied(seq uint64) {
	i, found := slices.BinarySearch(s.Applied, seq)
	if found {
		return
	}
	s.Applied = slices.Insert(s.Applied, i, seq)
	if len(s.Applied) > maxApplied {
		s.Applied = s.Applied[len(s.Applied)-maxApplied:]
	}
}

// Open reports whether any operation of the key is not terminal.
func (s *KeyState) Open() bool {
	for _, op := range s.Ops {
		if !op.Status.Terminal() {
			return true
		}
	}
	return false
}

// EventID returns the id of the resolved event of the operation in slot of key
// reaching status: the same for every replay and every re-emission.
func EventID(key, slot string, status events.Status) string {
	var buf [128]byte
	return eventID(append(appendEventIDPrefix(buf[:0], key, slot), status...))
}

// stallCheckID returns the id of the stall check of the operation in slot of
// key due at due: EventID with the status "stallcheck:" and due in RFC 3339,
// without building that string (TestStallCheckIDMatchesEventID).
func stallCheckID(key, slot string, due time.Time) string {
	var buf [128]byte
	b := append(appendEventIDPrefix(buf[:0], key, slot), "stallcheck:"...)
	return eventID(due.AppendFormat(b, time.RFC3339))
}

// rearmedStallCheckID returns the id of the stall check that the check fired
// at stream sequence fired re-arms for due. It never equals a first check's
// id (stallCheckID): a first check that a stale worker published for the
// same due time replaces the pending one on its subject, and the stream's
// duplicate window would drop a re-armed check under the same id.
func rearmedStallCheckID(key, slot string, due time.Time, fired uint64) string {
	var buf [160]byte
	b := append(appendEventIDPrefix(buf[:0], key, slot), "stallcheck:"...)
	b = append(due.AppendFormat(b, time.RFC3339), " rearmed by "...)
	return eventID(strconv.AppendUint(b, fired, 10))
}

// appendEventIDPrefix appends what an event id hashes before the status.
func appendEventIDPrefix(b []byte, key, slot string) []byte {
	b = append(append(b, key...), 0)
	return append(append(b, slot...), 0)
}

// eventID returns the hex of the first half of in's SHA-256.
func eventID(in []byte) string {
	h := sha256.Sum256(in)
	var out [32]byte
	hex.Encode(out[:], h[:16])
	return string(out[:])
}

// keepDetailed is how many terminal operations per key keep their sources and
// further fields; older terminal ones keep only what matching and absorbing
// late evidence need.
const keepDetailed = 8

// Prune bounds the key's state: terminal operations whose latest news is
// older than retention before now are dropped; terminal operations beyond the
// newest keepDetailed lose their sources and further fields. now is the time
// of the evidence being applied (not the wall clock), so a replay prunes the
// same way. Returns whether anything changed.
func (s *KeyState) Prune(now time.Time, retention time.Duration) bool {
	changed := false
	kept := s.Ops[:0]
	for _, op := range s.Ops {
		if op.Status.Terminal() && retention > 0 && op.LastNewsAt.Add(retention).Before(now) {
			changed = true
			continue
		}
		kept = append(kept, op)
	}
	clear(s.Ops[len(kept):])
	s.Ops = kept
	terminal := 0
	for i := len(s.Ops) - 1; i >= 0; i-- {
		op := s.Ops[i]
		if !op.Status.Terminal() {
			continue
		}
		if terminal++; terminal > keepDetailed && (len(op.Sources) > 0 || op.Extra != nil) {
			op.SourcesDropped += len(op.Sources)
			op.Sources, op.Extra = nil, nil
			changed = true
		}
	}
	return changed
}
