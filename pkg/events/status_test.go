package events

import (
	"errors"
	"testing"

	"github.com/commsops/commsops/internal/subjects"
)

func TestParseStatus(t *testing.T) {
	valid := []struct {
		in   string
		want Status
	}{
		{"notStarted", StatusNotStarted}, {"NOTSTARTED", StatusNotStarted}, {"not_started", StatusNotStarted},
		{"NotStarted", StatusNotStarted}, {"running", StatusRunning}, {"Running", StatusRunning},
		{"RUNNING", StatusRunning}, {" running\t", StatusRunning}, {"completed", StatusCompleted},
		{"Completed", StatusCompleted}, {"failed", StatusFailed}, {"Failed", StatusFailed},
		{"stalled", StatusStalled}, {"Stalled", StatusStalled},
	}
	for _, c := range valid {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseStatus(c.in)
			if err != nil || got != c.want {
				t.Fatalf("ParseStatus(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
			if again, err := ParseStatus(string(got)); err != nil || again != got {
				t.Errorf("ParseStatus(%q) does not return itself", got)
			}
			if again, err := ParseStatus(got.Token()); err != nil || again != got {
				t.Errorf("the token %q does not parse back", got.Token())
			}
		})
	}
	for _, bad := range []string{"", " ", "finished", "done", "complete", "fail", "not started", "notstarted.", "running*", "ruNNing!", "0", "null"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			got, err := ParseStatus(bad)
			if !errors.Is(err, ErrInvalidStatus) || got != "" {
				t.Fatalf("ParseStatus(%q) = %q, %v; want ErrInvalidStatus", bad, got, err)
			}
		})
	}
}

func TestStatusRankTerminalToken(t *testing.T) {
	cases := []struct {
		s        Status
		rank     int
		terminal bool
		token    string
	}{
		{StatusNotStarted, 1, false, "notstarted"},
		{StatusRunning, 2, false, "running"},
		{StatusCompleted, 3, true, "completed"},
		{StatusFailed, 3, true, "failed"},
		{StatusStalled, 0, false, "stalled"},
		{"", 0, false, ""},
		{"Running", 0, false, "running"}, // an unparsed status is not on the lattice
		{"bogus", 0, false, "bogus"},
	}
	for _, c := range cases {
		t.Run(string(c.s), func(t *testing.T) {
			if c.s.Rank() != c.rank || c.s.Terminal() != c.terminal || c.s.Token() != c.token {
				t.Errorf("%q: rank %d terminal %v token %q; want %d %v %q", c.s, c.s.Rank(), c.s.Terminal(), c.s.Token(),
					c.rank, c.terminal, c.token)
			}
		})
	}
	// The lattice: notStarted < running < completed | failed, and only the top is terminal.
	if !(StatusNotStarted.Rank() < StatusRunning.Rank() && StatusRunning.Rank() < StatusCompleted.Rank() &&
		StatusCompleted.Rank() == StatusFailed.Rank()) {
		t.Error("ranks are not ordered notStarted < running < completed = failed")
	}
	for _, s := range []Status{StatusNotStarted, StatusRunning, StatusCompleted, StatusFailed, StatusStalled} {
		if s.Terminal() != (s.Rank() == 3) {
			t.Errorf("%s: terminal %v but rank %d", s, s.Terminal(), s.Rank())
		}
		if subjects.ResolvedType(string(s)) != TypeResolvedPrefix+s.Token() {
			t.Errorf("subjects.ResolvedType(string(%s)) = %q", s, subjects.ResolvedType(string(s)))
		}
	}
}
