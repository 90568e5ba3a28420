package subjects

import (
	"errors"
	"testing"

	"github.com/commsops/commsops/internal/evterr"
)

const guid = "d45324c1-fcb5-430a-902c-f20af696537c"

func TestParseStoredIn(t *testing.T) {
	valid := []struct {
		subject string
		want    StoredIn
	}{
		{"comms.in.0.op." + guid, StoredIn{0, "op", guid}},
		{"comms.in.15.call._XEUjDImam9dRWizC15xD4aTXl4kC2oSv5tENd0zRcrg", StoredIn{15, "call", "_XEUjDImam9dRWizC15xD4aTXl4kC2oSv5tENd0zRcrg"}},
		{"comms.in.3.participant.k", StoredIn{3, "participant", "k"}},
		{"comms.in.007.other.k", StoredIn{7, "other", "k"}},
	}
	for _, c := range valid {
		got, err := ParseStoredIn(c.subject)
		if err != nil || got != c.want {
			t.Errorf("ParseStoredIn(%q) = %+v, %v; want %+v", c.subject, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "comms.in.", "comms.in.op.k", "comms.in.1.op", "comms.in.1.op.k.x",
		"comms.resolved.k.running", "comms.in.x.op.k", "comms.in.1x.op.k", "comms.in.+1.op.k", "comms.in.-1.op.k",
		"comms.in. 1.op.k", "comms.in.1..k", "comms.in.1.op.", "comms.in..op.k", "comms.in.sched.stall.k.0011223344556677",
		"comms.in.99999999999999999999.op.k"} {
		if got, err := ParseStoredIn(bad); !errors.Is(err, evterr.ErrInvalidPayload) {
			t.Errorf("ParseStoredIn(%q) = %+v, %v; want ErrInvalidPayload", bad, got, err)
		}
	}
}
