package events

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/stallcheck"
	"github.com/commsops/commsops/internal/subjects"
)

// TestInternalPrefixesMatchContract: the internal subject builders and the
// ingest's event construction use the names this package publishes.
func TestInternalPrefixesMatchContract(t *testing.T) {
	for _, c := range []struct{ internal, public string }{
		{subjects.InPrefix, SubjectInPrefix},
		{subjects.DeadLetterPrefix, SubjectDeadLetterPrefix},
		{subjects.ResolvedPrefix, SubjectResolvedPrefix},
		{subjects.ResolvedTypePrefix, TypeResolvedPrefix},
		{fmt.Sprint(graphid.MaxClientContextLen), fmt.Sprint(MaxClientContextLen)},
		{inbound.StreamIn, StreamIn},
		{inbound.TypeOperationNotification, TypeOperationNotification},
		{inbound.TypeCallNotification, TypeCallNotification},
		{inbound.TypeParticipantNotification, TypeParticipantNotification},
		{inbound.TypeOtherNotification, TypeOtherNotification},
		{inbound.TypeActionResponse, TypeActionResponse},
		{inbound.ContentTypeJSON, ContentTypeJSON},
		{inbound.ExtCallID, ExtCallID},
		{inbound.ExtOperationID, ExtOperationID},
		{inbound.ExtClientContext, ExtClientContext},
		{inbound.ExtChangeType, ExtChangeType},
		{inbound.ExtMessageID, ExtMessageID},
		{inbound.ExtItemIndex, ExtItemIndex},
		{inbound.ExtTraceParent, ExtTraceParent},
	} {
		if c.internal != c.public {
			t.Errorf("internal name %q, contract %q", c.internal, c.public)
		}
	}
	for _, st := range []Status{StatusNotStarted, StatusRunning, StatusCompleted, StatusFailed, StatusStalled} {
		if got, err := graphwire.ParseStatus(string(st)); got != string(st) || err != nil {
			t.Errorf("graphwire.ParseStatus(%q) = %q, %v", st, got, err)
		}
		if got, want := subjects.ResolvedType(string(st)), TypeResolvedPrefix+st.Token(); got != want {
			t.Errorf("subjects.ResolvedType(string(%s)) = %q, want %q", st, got, want)
		}
	}
}

func TestSubjectBuilders(t *testing.T) {
	cases := []struct{ got, want string }{
		{inbound.InSubject(graphwire.KindOperation, "k"), "comms.in.op.k"},
		{subjects.InFilter(-1, string(graphwire.KindOperation)), "comms.in.*.op.*"},
		{subjects.InFilter(3, string(graphwire.KindCall)), "comms.in.3.call.*"},
		{ResolvedSubject("k", StatusNotStarted), "comms.resolved.k.notstarted"},
		{ResolvedSubject("k", StatusStalled), "comms.resolved.k.stalled"},
		{resolvedFilter("", ""), "comms.resolved.*.*"},
		{resolvedFilter("", StatusFailed), "comms.resolved.*.failed"},
		{resolvedFilter("a.b", ""), "comms.resolved." + Key("a.b") + ".*"},
		{resolvedFilter(">", StatusCompleted), "comms.resolved." + Key(">") + ".completed"},
		{subjects.DeadLetter(StreamIn, "k"), "comms.dlq.COMMS_IN.k"},
		{subjects.ResolvedType(string(StatusCompleted)), "io.commsops.operation.completed"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: %q, want %q", i, c.got, c.want)
		}
	}
	src, dst := subjects.InTransform(Partitions)
	if src != "comms.in.*.*" || dst != "comms.in.{{partition(16,2)}}.{{wildcard(1)}}.{{wildcard(2)}}" {
		t.Errorf("InTransform = %q → %q", src, dst)
	}
	// A published subject matches its transform's source; a stored one, its filter.
	for _, k := range []graphwire.Kind{graphwire.KindOperation, graphwire.KindCall, graphwire.KindParticipant, graphwire.KindOther} {
		if !subjectMatches(src, inbound.InSubject(k, Key("x y"))) {
			t.Errorf("%s does not match %s", inbound.InSubject(k, Key("x y")), src)
		}
		stored := "comms.in.5." + string(k) + "." + Key("x y")
		if !subjectMatches(subjects.InFilter(5, string(k)), stored) || !subjectMatches(subjects.InFilter(-1, string(k)), stored) {
			t.Errorf("%s does not match its filters", stored)
		}
		s, err := subjects.ParseStoredIn(stored)
		if err != nil || s.Kind != string(k) || s.Key != Key("x y") || s.Partition != 5 {
			t.Errorf("subjects.ParseStoredIn(%q) = %+v, %v", stored, s, err)
		}
	}
	// A stall schedule has six tokens: no five-token ingested filter matches it.
	sched := stallcheck.ScheduleSubject(Key("a.b"), "slot.1 *")
	checkSubject(t, sched, 6)
	if subjectMatches(subjects.InFilter(-1, string(graphwire.KindOperation)), sched) || subjectMatches("comms.in.*.*.*", sched) {
		t.Errorf("%s matches an ingested-event filter", sched)
	}
	a1, a2, b := stallcheck.ScheduleSubject("k", "a"), stallcheck.ScheduleSubject("k", "a"), stallcheck.ScheduleSubject("k", "b")
	if a1 != a2 || a1 == b {
		t.Errorf("stall schedule subjects do not follow the slot: %s, %s (slot a twice), %s (slot b)", a1, a2, b)
	}
}

// subjectMatches applies NATS subject matching: '*' one token, '>' the rest.
func subjectMatches(filter, subject string) bool {
	f, s := splitTokens(filter), splitTokens(subject)
	for i, ft := range f {
		if ft == ">" {
			return len(s) > i
		}
		if i >= len(s) || ft != "*" && ft != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}

func splitTokens(s string) []string {
	var toks []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			toks = append(toks, s[start:i])
			start = i + 1
		}
	}
	return toks
}

// TestSubjectsAreValidNATSSubjects uses the server's own checks: every
// published subject is a literal, every filter a valid subject.
func TestSubjectsAreValidNATSSubjects(t *testing.T) {
	for _, cc := range keyCases() {
		k := Key(cc)
		for _, s := range []string{ResolvedSubject(k, StatusRunning), inbound.InSubject(graphwire.KindOperation, k), stallcheck.ScheduleSubject(k, cc)} {
			if !server.IsValidPublishSubject(s) || !server.IsValidLiteralSubject(s) {
				t.Errorf("%q (clientContext %q) is not a valid literal NATS subject", s, cc)
			}
		}
		if f := resolvedFilter(cc, ""); !server.IsValidSubject(f) {
			t.Errorf("filter %q is not a valid NATS subject", f)
		}
	}
}
