package events

import (
	"errors"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

func TestParseStoredInSubject(t *testing.T) {
	valid := []struct {
		subject string
		want    StoredIn
	}{
		{"comms.in.0.op." + ccD45, StoredIn{0, KindOperation, ccD45}},
		{"comms.in.15.call._XEUjDImam9dRWizC15xD4aTXl4kC2oSv5tENd0zRcrg", StoredIn{15, KindCall, "_XEUjDImam9dRWizC15xD4aTXl4kC2oSv5tENd0zRcrg"}},
		{"comms.in.3.participant.k", StoredIn{3, KindParticipant, "k"}},
		{"comms.in.007.other.k", StoredIn{7, KindOther, "k"}},
	}
	for _, c := range valid {
		got, err := ParseStoredInSubject(c.subject)
		if err != nil || got != c.want {
			t.Errorf("ParseStoredInSubject(%q) = %+v, %v; want %+v", c.subject, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "comms.in.", "comms.in.op.k", "comms.in.1.op", "comms.in.1.op.k.x",
		"comms.resolved.k.running", "comms.in.x.op.k", "comms.in.1x.op.k", "comms.in.+1.op.k", "comms.in.-1.op.k",
		"comms.in. 1.op.k", "comms.in.1..k", "comms.in.1.op.", "comms.in..op.k", "comms.in.sched.stall.k.0011223344556677",
		"comms.in.99999999999999999999.op.k"} {
		if got, err := ParseStoredInSubject(bad); !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("ParseStoredInSubject(%q) = %+v, %v; want ErrInvalidPayload", bad, got, err)
		}
	}
}

func TestSubjectBuilders(t *testing.T) {
	cases := []struct{ got, want string }{
		{InSubject(KindOperation, "k"), "comms.in.op.k"},
		{InFilter(-1, KindOperation), "comms.in.*.op.*"},
		{InFilter(3, KindCall), "comms.in.3.call.*"},
		{ResolvedSubject("k", StatusNotStarted), "comms.resolved.k.notstarted"},
		{ResolvedSubject("k", StatusStalled), "comms.resolved.k.stalled"},
		{ResolvedFilter("", ""), "comms.resolved.*.*"},
		{ResolvedFilter("", StatusFailed), "comms.resolved.*.failed"},
		{ResolvedFilter("a.b", ""), "comms.resolved." + Key("a.b") + ".*"},
		{ResolvedFilter(">", StatusCompleted), "comms.resolved." + Key(">") + ".completed"},
		{DeadLetterSubject(StreamIn, "k"), "comms.dlq.COMMS_IN.k"},
		{ResolvedType(StatusCompleted), "io.commsops.operation.completed"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: %q, want %q", i, c.got, c.want)
		}
	}
	src, dst := InTransform(Partitions)
	if src != "comms.in.*.*" || dst != "comms.in.{{partition(16,2)}}.{{wildcard(1)}}.{{wildcard(2)}}" {
		t.Errorf("InTransform = %q → %q", src, dst)
	}
	// A published subject matches its transform's source; a stored one, its filter.
	for _, k := range []Kind{KindOperation, KindCall, KindParticipant, KindOther} {
		if !subjectMatches(src, InSubject(k, Key("x y"))) {
			t.Errorf("%s does not match %s", InSubject(k, Key("x y")), src)
		}
		stored := "comms.in.5." + string(k) + "." + Key("x y")
		if !subjectMatches(InFilter(5, k), stored) || !subjectMatches(InFilter(-1, k), stored) {
			t.Errorf("%s does not match its filters", stored)
		}
		s, err := ParseStoredInSubject(stored)
		if err != nil || s.Kind != k || s.Key != Key("x y") || s.Partition != 5 {
			t.Errorf("ParseStoredInSubject(%q) = %+v, %v", stored, s, err)
		}
	}
	// A stall schedule has six tokens: no five-token ingested filter matches it.
	sched := StallScheduleSubject(Key("a.b"), "slot.1 *")
	checkSubject(t, sched, 6)
	if subjectMatches(InFilter(-1, KindOperation), sched) || subjectMatches("comms.in.*.*.*", sched) {
		t.Errorf("%s matches an ingested-event filter", sched)
	}
	if StallScheduleSubject("k", "a") == StallScheduleSubject("k", "b") || StallScheduleSubject("k", "a") != StallScheduleSubject("k", "a") {
		t.Error("stall schedule subjects do not follow the slot")
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
		for _, s := range []string{ResolvedSubject(k, StatusRunning), InSubject(KindOperation, k), StallScheduleSubject(k, cc)} {
			if !server.IsValidPublishSubject(s) || !server.IsValidLiteralSubject(s) {
				t.Errorf("%q (clientContext %q) is not a valid literal NATS subject", s, cc)
			}
		}
		if f := ResolvedFilter(cc, ""); !server.IsValidSubject(f) {
			t.Errorf("filter %q is not a valid NATS subject", f)
		}
	}
}
