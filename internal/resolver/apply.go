package resolver

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/commsops/commsops/internal/stallcheck"
	"github.com/commsops/commsops/pkg/events"
)

// Apply merges one piece of evidence into the key's state, marks its stream
// sequence applied and returns the resolved events it decides: at most one, the
// new status of the operation it concerns when that status moved forward and
// was never emitted before. Evidence that reports an older status than the
// operation has (the race) is absorbed, listed in the operation's sources and
// sets RaceDetected. Callers skip evidence for which HasApplied is true. Apply
// is deterministic: the same evidence in the same order yields the same state
// and the same emissions. Not safe for concurrent use on one KeyState.
func (s *KeyState) Apply(ev *Evidence) []Emission {
	s.touched = nil
	if ev.Kind == events.SourceStallTimer {
		return nil // stall checks go through CheckStall
	}
	s.markApplied(ev.Seq)
	op := s.match(ev)
	if op == nil {
		op = &OpState{Slot: "seq:" + strconv.FormatUint(ev.Seq, 10), ID: ev.OpID}
		if ev.OpID != "" {
			op.Slot = "id:" + ev.OpID
		}
		s.Ops = append(s.Ops, op)
	}
	s.touched = op
	return op.merge(s.Key, ev)
}

// CheckStall applies a fired stall check: for the operation in the check's
// slot, when it is still open and was never reported stalled, either it had
// no news for stallAfter before the check's time, and one stalled event is
// returned, or it had news, and the check is re-armed for its latest news plus
// stallAfter, under an id no first check has (one schedule pending per open
// operation, not one per message).
// changed is false when the check concerns nothing (a terminal or stalled
// operation): then the state needs no write. target is the key's stored
// subject the re-armed check fires onto.
func (s *KeyState) CheckStall(ev *Evidence, stallAfter time.Duration, target string, now time.Time) (out []Emission, changed bool) {
	s.touched = nil
	for _, op := range s.Ops {
		if op.Slot != ev.Slot {
			continue
		}
		if op.Status.Terminal() || slices.Contains(op.Emitted, events.StatusStalled) {
			return nil, false
		}
		s.markApplied(ev.Seq)
		if due := op.LastNewsAt.Add(stallAfter); due.After(ev.ReceivedAt) {
			em := s.stallSchedule(op, due, target, now)
			em.ID = rearmedStallCheckID(s.Key, op.Slot, em.At, ev.Seq)
			return []Emission{em}, true
		}
		op.addSource(events.Source{Kind: events.SourceStallTimer, ReceivedAt: ev.ReceivedAt, StreamSeq: ev.Seq, Status: events.StatusStalled})
		return []Emission{op.emission(s.Key, events.StatusStalled, ev.ReceivedAt)}, true
	}
	return nil, false
}

// StallSchedules returns the stall checks to schedule now: one for each
// operation that is open, was never reported stalled and has no check
// pending, due stallAfter after its latest news. An operation that finished
// before the call gets none. target is the key's stored subject the checks
// fire onto.
func (s *KeyState) StallSchedules(stallAfter time.Duration, target string, now time.Time) []Emission {
	var out []Emission
	for _, op := range s.Ops {
		if op.Status.Terminal() || !op.StallDue.IsZero() || slices.Contains(op.Emitted, events.StatusStalled) {
			continue
		}
		out = append(out, s.stallSchedule(op, op.LastNewsAt.Add(stallAfter), target, now))
	}
	return out
}

// stallSchedule records and returns a check for op due at due (rounded up to
// the second, at the earliest a second from now).
func (s *KeyState) stallSchedule(op *OpState, due time.Time, target string, now time.Time) Emission {
	if earliest := now.Add(time.Second); due.Before(earliest) {
		due = earliest
	}
	due = due.UTC().Truncate(time.Second).Add(time.Second)
	op.StallDue = due
	return Emission{
		Kind:      EmitStallSchedule,
		ID:        stallCheckID(s.Key, op.Slot, due),
		Subject:   stallcheck.ScheduleSubject(s.Key, op.Slot),
		At:        due,
		Target:    target,
		Slot:      op.Slot,
		NewsSeq:   op.NewsSeq,
		ClientCtx: op.ClientContext,
		CallID:    op.CallID,
	}
}

// match finds the operation evidence belongs to, or nil for a new one.
//   - With an operation id: the operation with that id; else the oldest
//     operation first seen without an id and of a compatible type and call,
//     which then takes the id (a null-operation response or a null-id
//     notification that came first).
//   - Without an id: the oldest open operation of compatible type and call
//     (for a response: one that has no response yet); else, for a response, the
//     oldest compatible operation without a response (the notifications came
//     first); else, for a notification, the newest compatible operation that
//     already has a notification of the same status (a late duplicate).
func (s *KeyState) match(ev *Evidence) *OpState {
	compatible := func(op *OpState) bool {
		return compatibleField(op.ODataType, ev.ODataType) && compatibleField(op.CallID, ev.CallID)
	}
	if ev.OpID != "" {
		for _, op := range s.Ops {
			if op.ID == ev.OpID {
				return op
			}
		}
		for _, op := range s.Ops {
			if op.ID == "" && compatible(op) && !(ev.Kind == events.SourceResponse && op.has(events.SourceResponse, "")) {
				op.ID = ev.OpID
				return op
			}
		}
		return nil
	}
	isResponse := ev.Kind == events.SourceResponse
	for _, op := range s.Ops {
		if !op.Status.Terminal() && compatible(op) && !(isResponse && op.has(events.SourceResponse, "")) {
			return op
		}
	}
	if isResponse {
		for _, op := range s.Ops {
			if compatible(op) && !op.has(events.SourceResponse, "") {
				return op
			}
		}
		return nil
	}
	for i := len(s.Ops) - 1; i >= 0; i-- {
		if op := s.Ops[i]; compatible(op) && ev.Status != "" && op.has(events.SourceNotification, ev.Status) {
			return op
		}
	}
	return nil
}

// compatibleField: equal ignoring case, or unknown on either side.
func compatibleField(a, b string) bool { return a == "" || b == "" || strings.EqualFold(a, b) }

// has reports whether the operation has evidence of kind (with status, unless "").
func (op *OpState) has(kind events.SourceKind, status events.Status) bool {
	for _, src := range op.Sources {
		if src.Kind == kind && (status == "" || src.Status == status) {
			return true
		}
	}
	return false
}

func (op *OpState) merge(key string, ev *Evidence) []Emission {
	if op.ID == "" {
		op.ID = ev.OpID
	}
	fill(&op.CallID, ev.CallID)
	fill(&op.ClientContext, ev.ClientContext)
	fill(&op.ODataType, ev.ODataType)
	if op.FirstSeenAt.IsZero() || ev.ReceivedAt.Before(op.FirstSeenAt) {
		op.FirstSeenAt = ev.ReceivedAt
	}
	if ev.ReceivedAt.After(op.LastNewsAt) {
		op.LastNewsAt = ev.ReceivedAt
	}
	op.NewsSeq = max(op.NewsSeq, ev.Seq)
	status := ev.Status
	if status.Rank() == 0 {
		status = "" // stalled or unknown is no step of an operation
	}
	src := events.Source{Kind: ev.Kind, ReceivedAt: ev.ReceivedAt, StreamSeq: ev.Seq, Status: status}
	advance := false
	switch {
	case status == "":
		op.mergeFields(ev, false)
	case op.Status.Terminal():
		if status != op.Status {
			src.Absorbed = true
			op.RaceDetected = op.RaceDetected || status.Rank() < op.Status.Rank()
		}
		op.mergeFields(ev, false)
	case status.Rank() > op.Status.Rank():
		op.Status = status
		op.mergeFields(ev, true)
		advance = true
	case status.Rank() < op.Status.Rank():
		src.Absorbed = true
		op.RaceDetected = true
		op.mergeFields(ev, false)
	default:
		op.mergeFields(ev, false)
	}
	op.addSource(src)
	if !advance || slices.Contains(op.Emitted, status) {
		return nil
	}
	return []Emission{op.emission(key, status, ev.ReceivedAt)}
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// mergeFields copies resultInfo, completionReason and further fields from the
// evidence: over what the operation has when override, else only where it has none.
func (op *OpState) mergeFields(ev *Evidence, override bool) {
	if ev.ResultInfo != nil && (override || op.ResultInfo == nil) {
		ri := *ev.ResultInfo
		op.ResultInfo = &ri
	}
	if ev.CompletionReason != "" && (override || op.CompletionReason == "") {
		op.CompletionReason = ev.CompletionReason
	}
	for k, v := range ev.Extra {
		if _, ok := op.Extra[k]; ok && !override {
			continue
		}
		if op.Extra == nil {
			op.Extra = make(map[string]json.RawMessage, len(ev.Extra))
		}
		op.Extra[k] = v
	}
}

// addSource lists evidence, keeping the first and the newest when over maxSources.
func (op *OpState) addSource(src events.Source) {
	op.Sources = append(op.Sources, src)
	if len(op.Sources) > maxSources {
		op.Sources = slices.Delete(op.Sources, 1, 2)
		op.SourcesDropped++
	}
}

// emission records status as emitted and returns its resolved event.
func (op *OpState) emission(key string, status events.Status, at time.Time) Emission {
	op.Emitted = append(op.Emitted, status)
	data, err := op.resolved(status, at).AppendJSON(make([]byte, 0, op.encodedSize()))
	if err != nil {
		// Only json.RawMessage extras can fail, and those were valid JSON on input.
		data = []byte("{}")
	}
	return Emission{
		ID:         EventID(key, op.Slot, status),
		Subject:    events.ResolvedSubject(key, status),
		Status:     status,
		CallID:     op.CallID,
		ClientCtx:  op.ClientContext,
		ResolvedAt: at,
		Data:       data,
	}
}

// Resolved returns the operation as a resolved event's data at status.
func (op *OpState) Resolved(status events.Status, at time.Time) events.ResolvedOperation {
	r := op.resolved(status, at)
	r.Sources = slices.Clone(op.Sources)
	return r
}

// resolved is Resolved sharing op's sources, for encoding at once.
func (op *OpState) resolved(status events.Status, at time.Time) events.ResolvedOperation {
	return events.ResolvedOperation{
		ClientContext:    op.ClientContext,
		CallID:           op.CallID,
		OperationID:      op.ID,
		ODataType:        op.ODataType,
		Status:           status,
		ResultInfo:       op.ResultInfo,
		CompletionReason: op.CompletionReason,
		RaceDetected:     op.RaceDetected,
		Sources:          op.Sources,
		FirstSeenAt:      op.FirstSeenAt,
		ResolvedAt:       at,
		Extra:            op.Extra,
	}
}
