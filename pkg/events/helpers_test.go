package events

import (
	"slices"
	"strings"
	"testing"
)

// Graph ids of the test payloads.
const (
	call57  = "57dab8b1-894c-409a-b240-bd8beae78896"
	call421 = "421f0b00-3c1e-4a5b-9a3e-5b1d2c8e7f60"
	op0fe   = "0fe0623f-d628-42ed-b4bd-8ac290072cc5"
	ccD45   = "d45324c1-fcb5-430a-902c-f20af696537c"
)

// checkSubject asserts a subject has exactly n non-empty tokens and no wildcard or white space.
func checkSubject(t testing.TB, subject string, n int) {
	t.Helper()
	toks := strings.Split(subject, ".")
	if len(toks) != n || slices.Contains(toks, "") || strings.ContainsAny(subject, "*> \t\r\n") {
		t.Fatalf("subject %q: want %d tokens and no wildcard", subject, n)
	}
}
