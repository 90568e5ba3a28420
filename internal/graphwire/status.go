package graphwire

import (
	"fmt"
	"strings"

	"github.com/commsops/commsops/internal/evterr"
)

// ParseStatus returns the status s names, in any casing ("Running",
// "NOTSTARTED", "not_started"), spelled as Graph spells it: notStarted,
// running, completed, failed, or commsops's stalled. It returns
// ErrInvalidStatus for anything else, including "". events.ParseStatus is
// this function with events.Status as its result.
func ParseStatus(s string) (string, error) {
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "")) {
	case "notstarted":
		return "notStarted", nil
	case "running":
		return "running", nil
	case "completed":
		return "completed", nil
	case "failed":
		return "failed", nil
	case "stalled":
		return "stalled", nil
	}
	return "", fmt.Errorf("%w: %s", evterr.ErrInvalidStatus, quoteShort(s))
}
