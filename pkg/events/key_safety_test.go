package events

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

var kvKey = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+$`) // a JetStream KV key, without '.'

func assertSafeKey(t *testing.T, cc string) string {
	t.Helper()
	k := Key(cc)
	if !kvKey.MatchString(k) {
		t.Fatalf("Key(%q) = %q is not a KV key without '.'", cc, k)
	}
	for _, s := range []Status{StatusNotStarted, StatusRunning, StatusCompleted, StatusFailed, StatusStalled} {
		subj := ResolvedSubject(k, s)
		toks := strings.Split(subj, ".")
		if len(toks) != 4 || strings.ContainsAny(subj, "*> \t\r\n") {
			t.Fatalf("ResolvedSubject(Key(%q)) = %q: %d tokens", cc, subj, len(toks))
		}
		if f := ResolvedFilter(cc, s); cc != "" && f != subj { // "" filters every clientContext
			t.Fatalf("ResolvedFilter(%q) = %q, want %q", cc, f, subj)
		}
	}
	in := InSubject(KindOperation, k)
	if toks := strings.Split(in, "."); len(toks) != 4 || strings.ContainsAny(in, "*> ") {
		t.Fatalf("InSubject = %q", in)
	}
	return k
}

// TestKeySubjectSafety: no clientContext, however crafted, yields a subject
// with extra tokens or wildcards; distinct inputs give distinct keys.
func TestKeySubjectSafety(t *testing.T) {
	explicit := []string{"", ".", "..", "a.b", "*", ">", "a b", "a\tb", "ü", "日本語", "a.*.>", "comms.resolved.>",
		strings.Repeat("x", 64), strings.Repeat("x", 65), strings.Repeat("é", 256), "_abc", "_" + strings.Repeat("A", 43),
		"d45324c1-fcb5-430a-902c-f20af696537c", "D45324C1-FCB5-430A-902C-F20AF696537C", "%2E", "a/b", "a=b", "\u200b"}
	seen := map[string]string{}
	check := func(cc string) {
		k := assertSafeKey(t, cc)
		if prev, dup := seen[k]; dup && prev != cc {
			t.Fatalf("Key(%q) == Key(%q) == %q", cc, prev, k)
		}
		seen[k] = cc
	}
	for _, cc := range explicit {
		check(cc)
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("abcXYZ019-_.*> \t/=%é日\u0000\u007f")
	for i := 0; i < 20000; i++ {
		n := r.IntN(80)
		b := make([]rune, n)
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		check(string(b))
	}
	// A plain GUID stays readable; anything else is hashed.
	if Key("d45324c1-fcb5-430a-902c-f20af696537c") != "d45324c1-fcb5-430a-902c-f20af696537c" || !strings.HasPrefix(Key("a.b"), "_") {
		t.Fatal("plain keys must stay verbatim and others hashed")
	}
}

// TestDerivedKeysNeverMeetClientContextKeys: keys of operations without a
// clientContext and of calls live in a namespace no valid clientContext reaches.
func TestDerivedKeysNeverMeetClientContextKeys(t *testing.T) {
	derived := map[string]bool{
		OperationKey("", "57DAB8B1894C409AB240BD8BEAE78896", "0fe0623f-d628-42ed-b4bd-8ac290072cc5"): true,
		CallKey("57dab8b1-894c-409a-b240-bd8beae78896"):                                              true,
	}
	if OperationKey("", "57DAB8B1894C409AB240BD8BEAE78896", "0FE0623FD62842EDB4BD8AC290072CC5") !=
		OperationKey("", "57dab8b1-894c-409a-b240-bd8beae78896", "0fe0623f-d628-42ed-b4bd-8ac290072cc5") {
		t.Fatal("id formats of one operation give different keys")
	}
	for k := range derived {
		assertSafeKey(t, k) // the derived key itself is subject-safe as a token
	}
	// The strings the derived keys hash hold NUL: no valid clientContext does.
	for _, cc := range []string{"\x00op\x00a\x00b", "\x00call\x00a"} {
		if ValidateClientContext(cc) == nil {
			t.Fatalf("%q is a valid clientContext", cc)
		}
	}
	for _, cc := range []string{"op", "call", "57dab8b1-894c-409a-b240-bd8beae78896"} {
		if derived[Key(cc)] {
			t.Fatalf("Key(%q) collides with a derived key", cc)
		}
	}
	if OperationKey("cc", "x", "y") != Key("cc") {
		t.Fatal("an operation with a clientContext is keyed by it")
	}
}
