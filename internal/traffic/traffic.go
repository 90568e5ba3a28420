package traffic

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/commsops/commsops/pkg/events"
)

// CallID is the Graph call every generated operation belongs to.
const CallID = "57dab8b1-894c-409a-b240-bd8beae78896"

// opTypes are the operation types generated, with the action that starts each.
var opTypes = []struct{ typ, action string }{
	{"playPromptOperation", "playPrompt"},
	{"recordOperation", "record"},
	{"muteParticipantOperation", "mute"},
	{"subscribeToToneOperation", "subscribeToTone"},
}

// Shares shape the generated traffic. Each is a share between 0 and 1.
type Shares struct {
	// Race is the share of operations with more than one piece of evidence
	// whose terminal notification comes before the action response.
	Race float64
	// Duplicates is how many items are sent again later with a new etag (Graph
	// redelivering beyond the stream's duplicate window, so that the resolver,
	// not the stream, must absorb them), as a share of the evidence.
	Duplicates float64
	// SharedCC is the share of operations on a clientContext shared with
	// others, about five per context (as Microsoft's samples reuse them).
	SharedCC float64
	// TerminalResponse is the share of operations whose action response is
	// already terminal, with no notification after it. Of the others, one in
	// three goes notStarted → running → terminal, the rest running → terminal.
	TerminalResponse float64
}

// Operation is one generated commsOperation.
type Operation struct {
	CC, ID       string
	Type, Action string
	// EvidenceSent is how many pieces of evidence were generated for it,
	// duplicates not counted.
	EvidenceSent int
}

// Evidence is one piece of what Graph and the bot send about an operation: the
// action response (Response true) or a notification reporting Status. ETag
// differs between copies, so each copy is new content with a new event id.
type Evidence struct {
	Op       *Operation
	Response bool
	Status   string
	ETag     int
}

// Generate returns n operations and their evidence in the order it is sent,
// shaped by s. The same r state gives the same traffic.
func Generate(r *rand.Rand, n int, s Shares) ([]*Operation, []Evidence) {
	ops := make([]*Operation, n)
	contexts := max(1, int(math.Round(s.SharedCC*float64(n)/5)))
	lists := make([][]Evidence, 0, n)
	for i := range ops {
		t := opTypes[r.IntN(len(opTypes))]
		op := &Operation{ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", r.Uint32(), i), Type: t.typ, Action: t.action}
		if r.Float64() < s.SharedCC {
			op.CC = "shared-" + strconv.Itoa(r.IntN(contexts))
		} else {
			op.CC = fmt.Sprintf("cc-%d-%08x", i, r.Uint32())
		}
		terminal := []string{"completed", "failed"}[r.IntN(2)]
		var ev []Evidence
		switch {
		case s.TerminalResponse > 0 && r.Float64() < s.TerminalResponse:
			ev = []Evidence{{Op: op, Response: true, Status: terminal}}
		case r.IntN(3) == 0:
			ev = []Evidence{{Op: op, Response: true, Status: "notStarted"}, {Op: op, Status: "running"}, {Op: op, Status: terminal}}
		default:
			ev = []Evidence{{Op: op, Response: true, Status: "running"}, {Op: op, Status: terminal}}
		}
		if len(ev) > 1 && r.Float64() < s.Race {
			ev[0], ev[len(ev)-1] = ev[len(ev)-1], ev[0]
		}
		op.EvidenceSent = len(ev)
		ops[i] = op
		lists = append(lists, ev)
	}
	seq := make([]Evidence, 0, int(float64(3*n)*(1+s.Duplicates)))
	for len(lists) > 0 {
		i := r.IntN(len(lists))
		seq = append(seq, lists[i][0])
		if lists[i] = lists[i][1:]; len(lists[i]) == 0 {
			lists[i] = lists[len(lists)-1]
			lists = lists[:len(lists)-1]
		}
	}
	seq = withDuplicates(r, seq, int(float64(len(seq))*s.Duplicates))
	for i := range seq {
		seq[i].ETag = i // a new etag for each copy: new content, new id
	}
	return ops, seq
}

// withDuplicates returns seq with copies of n random items, each inserted at
// a random place after its original.
func withDuplicates(r *rand.Rand, seq []Evidence, n int) []Evidence {
	if len(seq) == 0 {
		return seq
	}
	type dup struct {
		at int // inserted before seq[at] (len(seq): at the end)
		e  Evidence
	}
	dups := make([]dup, n)
	for k := range dups {
		j := r.IntN(len(seq))
		dups[k] = dup{at: j + 1 + r.IntN(len(seq)-j), e: seq[j]}
	}
	slices.SortStableFunc(dups, func(a, b dup) int { return a.at - b.at })
	merged := make([]Evidence, 0, len(seq)+len(dups))
	for i := 0; i <= len(seq); i++ {
		for len(dups) > 0 && dups[0].at == i {
			merged = append(merged, dups[0].e)
			dups = dups[1:]
		}
		if i < len(seq) {
			merged = append(merged, seq[i])
		}
	}
	return merged
}

// Model applies the contract's semantics to seq in stream order: per
// operation, a status is emitted when it ranks above everything seen before
// it. It returns the statuses per operation and their total.
func Model(seq []Evidence) (map[*Operation][]events.Status, int) {
	want := map[*Operation][]events.Status{}
	best := map[*Operation]int{}
	n := 0
	for _, e := range seq {
		s, err := events.ParseStatus(e.Status)
		if err != nil {
			panic(fmt.Sprintf("traffic: generated status %q: %v", e.Status, err))
		}
		if s.Rank() > best[e.Op] {
			best[e.Op] = s.Rank()
			want[e.Op] = append(want[e.Op], s)
			n++
		}
	}
	return want, n
}
