package e2e

import (
	"io"
	"strings"
	"time"

	"github.com/commsops/commsops/internal/resolver"
)

func stringsRepeat(s string, n int) string { return strings.Repeat(s, n) }
func stringsReader(s string) io.Reader     { return strings.NewReader(s) }

func resolverDefaults() resolver.Config {
	// A commit delay, so that kills and failovers find batches applied,
	// published and not yet written or acked.
	return resolver.Config{AckWait: 2 * time.Second, PinnedTTL: time.Second, CommitDelay: 200 * time.Millisecond}
}
