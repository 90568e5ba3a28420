package traffic

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/commsops/commsops/pkg/events"
)

// CallID is the Graph call generated operations belong to (the first of
// Shares.Calls calls when there are several).
const CallID = "57dab8b1-894c-409a-b240-bd8beae78896"

// callIDFor returns the id of the i-th call: CallID for 0.
func callIDFor(i int) string {
	if i == 0 {
		return CallID
	}
	return fmt.Sprintf("57dab8b1-894c-409a-b240-%012x", i)
}

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
	// ProgressRace is the share of the three-step operations not raced
	// otherwise whose running notification comes before the notStarted action
	// response: the response is absorbed, and the terminal event after it
	// reports raceDetected.
	ProgressRace float64
	// Calls is how many calls the operations are spread over, at random (0
	// or 1: all on CallID). Several calls put operations of different calls
	// on one shared clientContext.
	Calls int
	// NullID is the share of eligible operations whose terminal notification
	// carries no operation id (id null, resourceUrl ".../operations/
	// participants"), so only clientContext, call and type correlate it.
	NullID float64
	// NullOperation is the share of eligible operations with notifications
	// whose action response is a null operation (202, no body): it carries
	// the call, the clientContext and, through the action, the type.
	NullOperation float64
}

// Operation is one generated commsOperation.
type Operation struct {
	CC, ID       string
	Type, Action string
	// Call is the id of the call it belongs to.
	Call string
	// EvidenceSent is how many pieces of evidence were generated for it,
	// duplicates not counted.
	EvidenceSent int
}

// Evidence is one piece of what Graph and the bot send about an operation: the
// action response (Response true) or a notification reporting Status. ETag
// differs between copies, so each copy is new content with a new event id.
// A response with Status "" is a null operation; a notification with NullID
// carries no operation id.
type Evidence struct {
	Op       *Operation
	Response bool
	Status   string
	NullID   bool
	ETag     int
}

// carriesID reports whether the evidence names its operation's id.
func (e Evidence) carriesID() bool {
	if e.Response {
		return e.Status != ""
	}
	return !e.NullID
}

// tripleOf returns what correlates evidence of op that carries no operation
// id: its clientContext, call and type. Null-id and null-operation evidence is
// generated only for operations no other one shares it with: beyond that,
// which operation such evidence belongs to is undecidable (a new operation
// looks the same), and the model could not say what the resolver emits.
func tripleOf(op *Operation) string { return op.CC + "\x00" + op.call() + "\x00" + op.Type }

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
		op.Call = CallID
		if s.Calls > 1 {
			op.Call = callIDFor(r.IntN(s.Calls))
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
		} else if s.ProgressRace > 0 && len(ev) == 3 && r.Float64() < s.ProgressRace {
			ev[0], ev[1] = ev[1], ev[0]
		}
		op.EvidenceSent = len(ev)
		ops[i] = op
		lists = append(lists, ev)
	}
	if s.NullID > 0 || s.NullOperation > 0 {
		withNulls(r, ops, lists, s)
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

// withNulls makes, among the operations with notifications whose clientContext,
// call and type no other operation shares, a share s.NullID send their
// terminal notification without an operation id and a share s.NullOperation
// get a null operation as action response. lists[i] is ops[i]'s evidence.
func withNulls(r *rand.Rand, ops []*Operation, lists [][]Evidence, s Shares) {
	count := map[string]int{}
	for _, op := range ops {
		count[tripleOf(op)]++
	}
	for i, op := range ops {
		if count[tripleOf(op)] > 1 || len(lists[i]) < 2 {
			continue
		}
		nullID, nullOp := r.Float64() < s.NullID, r.Float64() < s.NullOperation
		for k, e := range lists[i] {
			switch {
			case e.Response && nullOp:
				lists[i][k].Status = ""
			case !e.Response && nullID && (e.Status == "completed" || e.Status == "failed"):
				lists[i][k].NullID = true
			}
		}
	}
}

// withDuplicates returns seq with copies of n random items, each inserted at
// a random place after its original. A null-operation response is not
// copied: a second one is, by the contract, a second operation.
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
	dups = slices.DeleteFunc(dups, func(d dup) bool { return d.e.Response && d.e.Status == "" })
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

// Expected is one resolved event the model predicts for an operation.
type Expected struct {
	Status events.Status
	// RaceDetected: evidence of a status below one already seen arrived
	// before this event was decided.
	RaceDetected bool
	// OperationID is the operation's id, or "" when no evidence that carries
	// it had arrived yet (a null-id completion first).
	OperationID string
}

// Expect applies the contract's semantics to seq in stream order: per
// operation, a status is emitted when it ranks above everything seen before
// it; evidence ranking below what was seen sets raceDetected for the events
// after it; the operation id is known from the first evidence that names it.
// It returns the events per operation and their total.
func Expect(seq []Evidence) (map[*Operation][]Expected, int) {
	want := map[*Operation][]Expected{}
	best := map[*Operation]int{}
	race, named := map[*Operation]bool{}, map[*Operation]bool{}
	n := 0
	for _, e := range seq {
		named[e.Op] = named[e.Op] || e.carriesID()
		if e.Status == "" {
			continue // a null operation: no status
		}
		s, err := events.ParseStatus(e.Status)
		if err != nil {
			panic(fmt.Sprintf("traffic: generated status %q: %v", e.Status, err))
		}
		switch r := s.Rank(); {
		case r > best[e.Op]:
			best[e.Op] = r
			x := Expected{Status: s, RaceDetected: race[e.Op]}
			if named[e.Op] {
				x.OperationID = e.Op.ID
			}
			want[e.Op] = append(want[e.Op], x)
			n++
		case r < best[e.Op]:
			race[e.Op] = true
		}
	}
	return want, n
}

// Model is Expect reduced to the statuses per operation, and their total.
func Model(seq []Evidence) (map[*Operation][]events.Status, int) {
	exp, n := Expect(seq)
	want := make(map[*Operation][]events.Status, len(exp))
	for op, x := range exp {
		for _, e := range x {
			want[op] = append(want[op], e.Status)
		}
	}
	return want, n
}
