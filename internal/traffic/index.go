package traffic

import (
	"strings"

	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/pkg/events"
)

// Index finds the generated operation a resolved event is about.
type Index struct {
	byID     map[string]*Operation
	byTriple map[string]*Operation // nil where ambiguous
}

// NewIndex indexes ops by clientContext and id, and by clientContext, call and
// type for the events of operations whose id was not known yet.
func NewIndex(ops []*Operation) *Index {
	x := &Index{byID: make(map[string]*Operation, len(ops)), byTriple: make(map[string]*Operation, len(ops))}
	for _, op := range ops {
		x.byID[op.CC+"\x00"+op.ID] = op
		t := tripleOf(op)
		if _, dup := x.byTriple[t]; dup {
			x.byTriple[t] = nil
		} else {
			x.byTriple[t] = op
		}
	}
	return x
}

// Find returns the operation r is about, or nil when it matches none (or,
// without an operation id, more than one).
func (x *Index) Find(r events.ResolvedOperation) *Operation {
	if r.OperationID != "" {
		return x.byID[r.ClientContext+"\x00"+r.OperationID]
	}
	typ := strings.TrimPrefix(r.ODataType, "#microsoft.graph.")
	return x.byTriple[tripleOf(&Operation{CC: r.ClientContext, Call: graphid.NormalizeID(r.CallID), Type: typ})]
}
