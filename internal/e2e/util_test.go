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
	return resolver.Config{AckWait: 2 * time.Second, PinnedTTL: time.Second}
}
