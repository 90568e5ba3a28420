package resolver

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/pkg/events"
)

// TestEventIDMatchesHash pins EventID to the hash it was defined by, and
// stallCheckID to EventID of the check's status string, for keys short and
// longer than the stack buffer.
func TestEventIDMatchesHash(t *testing.T) {
	want := func(key, slot, status string) string {
		h := sha256.Sum256([]byte(key + "\x00" + slot + "\x00" + status))
		return hex.EncodeToString(h[:16])
	}
	due := time.Date(2026, 12, 7, 5, 4, 3, 0, time.UTC)
	cases := []struct{ name, key, slot string }{
		{"short", "cc-1", "id:op-1"},
		{"empty", "", ""},
		{"long", strings.Repeat("k", 200), "seq:" + strings.Repeat("9", 20)},
		{"unicode", "cc-ü\x00", "id:é"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, w := EventID(c.key, c.slot, events.StatusRunning), want(c.key, c.slot, "running"); got != w {
				t.Fatalf("EventID = %s, want %s", got, w)
			}
			status := events.Status("stallcheck:" + due.Format(time.RFC3339))
			if got, w := stallCheckID(c.key, c.slot, due), EventID(c.key, c.slot, status); got != w {
				t.Fatalf("stallCheckID = %s, want %s", got, w)
			}
			if got, w := stallCheckID(c.key, c.slot, due), want(c.key, c.slot, string(status)); got != w {
				t.Fatalf("stallCheckID = %s, want hash %s", got, w)
			}
		})
	}
}
