package events

import (
	"strings"

	"github.com/commsops/commsops/internal/graphwire"
)

// Status is an operation status. The Graph values are notStarted, running,
// completed and failed; commsops adds stalled for operations that stopped
// getting news (RESOLVER_STALL_AFTER).
type Status string

// The statuses, spelled as Graph spells them.
const (
	StatusNotStarted Status = "notStarted"
	StatusRunning    Status = "running"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
	StatusStalled    Status = "stalled"
)

// ParseStatus returns the Status for s in any casing ("Running", "NOTSTARTED",
// "not_started"). It returns ErrInvalidStatus for anything else, including "".
func ParseStatus(s string) (Status, error) {
	v, err := graphwire.ParseStatus(s)
	return Status(v), err
}

// Rank orders statuses on the forward-only lattice: notStarted (1) < running (2)
// < completed | failed (3). Unknown statuses and stalled rank 0: stalled is a
// report about an operation, not a step of it.
func (s Status) Rank() int {
	switch s {
	case StatusNotStarted:
		return 1
	case StatusRunning:
		return 2
	case StatusCompleted, StatusFailed:
		return 3
	}
	return 0
}

// Terminal reports whether s is completed or failed: final, nothing follows.
func (s Status) Terminal() bool { return s == StatusCompleted || s == StatusFailed }

// Token returns the lower-case form used in subjects and event types
// ("notstarted", "running", "completed", "failed", "stalled").
func (s Status) Token() string { return strings.ToLower(string(s)) }
