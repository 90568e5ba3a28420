package events

import (
	"slices"

	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/internal/stallcheck"
)

// View is what COMMS_RESOLVED holds for one clientContext up to one stream
// sequence: each operation at its latest status.
type View struct {
	// ClientContext is the clientContext looked up.
	ClientContext string
	// Index is the COMMS_RESOLVED sequence of the clientContext's latest
	// event, 0 when it has none. A later View of the same clientContext has
	// an Index at least as high.
	Index uint64
	// Operations holds each operation at its latest status, in order of
	// first appearance.
	Operations []ResolvedOperation
}

// Select returns the operation an await follows: the one whose id is
// operationID (compared normalised), or with operationID "" the latest to
// appear. It returns nil when there is none.
func (v *View) Select(operationID string) *ResolvedOperation {
	i := selectOp(v.Operations, graphid.NormalizeID(operationID))
	if i < 0 {
		return nil
	}
	op := v.Operations[i]
	return &op
}

func selectOp(ops []ResolvedOperation, normalizedID string) int {
	if normalizedID == "" {
		return len(ops) - 1
	}
	return slices.IndexFunc(ops, func(op ResolvedOperation) bool { return graphid.NormalizeID(op.OperationID) == normalizedID })
}

// view builds a View from resolved events applied in stream order. An
// operation is told apart by the event's operation slot (its identity within
// the key, stable across replays), or by its id when the slot is missing.
type view struct {
	View
	slots []string // parallel to Operations
}

func newView(clientContext string) *view { return &view{View: View{ClientContext: clientContext}} }

// apply records r; events at or before Index are ignored.
func (v *view) apply(r *Resolved) {
	if r.Seq <= v.Index {
		return
	}
	v.Index = r.Seq
	slot := operationSlot(r)
	if i := slices.Index(v.slots, slot); i >= 0 {
		v.Operations[i] = r.Data
		return
	}
	v.slots = append(v.slots, slot)
	v.Operations = append(v.Operations, r.Data)
}

// operationSlot returns the identity of r's operation within its key.
func operationSlot(r *Resolved) string {
	if s, ok := r.Event.Extensions()[stallcheck.ExtSlot].(string); ok && s != "" {
		return "s:" + s
	}
	return "id:" + graphid.NormalizeID(r.Data.OperationID)
}

// in reports whether s is one of statuses.
func (s Status) in(statuses []Status) bool { return slices.Contains(statuses, s) }
