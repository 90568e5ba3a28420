package events

import (
	"context"
	"fmt"
	mrand "math/rand"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/quick"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/graphwire/graphtest"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/keys"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/stallcheck"
	"github.com/commsops/commsops/internal/subjects"
)

// kvKeyRe is nats.go's JetStream KV key syntax; keys must also avoid '.', so
// that a key stays one subject token.
var kvKeyRe = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

var plainRe = regexp.MustCompile(`^[-a-zA-Z0-9]{1,64}$`)

var allStatuses = []Status{StatusNotStarted, StatusRunning, StatusCompleted, StatusFailed, StatusStalled}

// checkKey asserts every property of Key(cc) and returns it.
func checkKey(t testing.TB, cc string) string {
	t.Helper()
	k := Key(cc)
	switch {
	case !kvKeyRe.MatchString(k) || strings.Contains(k, "."):
		t.Fatalf("Key(%q) = %q is not a KV key without '.'", cc, k)
	case strings.ContainsAny(k, "*> \t\r\n\v\f") || !isASCII(k):
		t.Fatalf("Key(%q) = %q holds a wildcard, white space or non-ASCII", cc, k)
	case len(k) > 64:
		t.Fatalf("Key(%q) = %q is longer than 64", cc, k)
	case Key(cc) != k:
		t.Fatalf("Key(%q) is not deterministic", cc)
	}
	if plainRe.MatchString(cc) {
		if k != cc {
			t.Fatalf("Key(%q) = %q: a plain clientContext must stay verbatim", cc, k)
		}
	} else if !strings.HasPrefix(k, "_") || len(k) != 44 {
		t.Fatalf("Key(%q) = %q: want \"_\" and 43 base64url characters", cc, k)
	}
	for _, s := range allStatuses {
		subj := ResolvedSubject(k, s)
		checkSubject(t, subj, 4)
		if toks := strings.Split(subj, "."); toks[2] != k || toks[3] != s.Token() {
			t.Fatalf("ResolvedSubject(Key(%q), %s) = %q", cc, s, subj)
		}
		if cc != "" { // "" filters every clientContext
			if f := resolvedFilter(cc, s); f != subj {
				t.Fatalf("resolvedFilter(%q, %s) = %q, want %q", cc, s, f, subj)
			}
		}
	}
	if cc != "" { // all statuses of one clientContext: the status token is the only wildcard
		if f := resolvedFilter(cc, ""); f != SubjectResolvedPrefix+k+".*" {
			t.Fatalf("resolvedFilter(%q, \"\") = %q", cc, f)
		}
	}
	checkSubject(t, inbound.InSubject(graphwire.KindOperation, k), 4)
	checkSubject(t, stallcheck.ScheduleSubject(k, "slot"), 6)
	checkSubject(t, subjects.DeadLetter(StreamIn, k), 4)
	return k
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// keyCases are the adversarial clientContexts every key test starts from.
func keyCases() []string {
	cases := []string{"", ".", "..", "a.b", "*", ">", "a b", " ", "a\tb", "a\nb", "ü", "日本語", "😀", "a.*.>",
		"comms.resolved.>", "comms.resolved.*.completed", "-", "--", "a", "A", "_", "_xyz", "__", "_-",
		"_LnM23I66h-9HLfVow1SCq_JXXcPl6sDFxiuP-urCyTQ", // a hashed key, as a clientContext
		"_" + strings.Repeat("A", 43), strings.Repeat("x", 63), strings.Repeat("x", 64), strings.Repeat("x", 65),
		strings.Repeat("x", 256), strings.Repeat("é", 256), strings.Repeat(".", 256), strings.Repeat("*", 256),
		ccD45, strings.ToUpper(ccD45), "%2E", "%2e", "a/b", "a=b", "a\u200bb", "\u00a0", "\x00", "\xff", "a\xc3",
		"0", "-0", "null", "${jndi:ldap://x}", "../../etc/passwd", "$JS.API.>", "_INBOX.x", "a..b", ".a", "a.",
	}
	cases = append(cases, Key(""), Key(strings.Repeat("x", 65)))
	slices.Sort(cases)
	return slices.Compact(cases)
}

// TestKeySubjectSafety: no clientContext, however crafted, yields a key that
// adds a token or a wildcard to a subject, or that JetStream KV refuses; and
// distinct clientContexts get distinct keys.
func TestKeySubjectSafety(t *testing.T) {
	seen := map[string]string{}
	check := func(cc string) {
		k := checkKey(t, cc)
		if prev, dup := seen[k]; dup && prev != cc {
			t.Fatalf("Key(%q) == Key(%q) == %q", cc, prev, k)
		}
		seen[k] = cc
	}
	for _, cc := range keyCases() {
		check(cc)
	}
	// Random strings over an adversarial alphabet, fixed seed.
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("abcXYZ019-_.*> \t\n/=%é日😀\u0000\u007f\u0085\u200b")
	for range 20000 {
		b := make([]rune, r.IntN(80))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		check(string(b))
	}
	// Random bytes, including invalid UTF-8.
	for range 5000 {
		b := make([]byte, r.IntN(300))
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		check(string(b))
	}
	// Plain-looking keys and their near misses.
	for range 5000 {
		n := 1 + r.IntN(70)
		b := make([]byte, n)
		for j := range b {
			b[j] = "abcdefABCDEF0123456789-"[r.IntN(23)]
		}
		check(string(b))
		check("_" + string(b))
		check(string(b) + ".")
	}
	// A hashed key used as a clientContext is hashed again, never kept.
	for _, cc := range []string{"a.b", "", "ü"} {
		if k := Key(cc); Key(k) == k {
			t.Errorf("Key(Key(%q)) == Key(%q)", cc, cc)
		}
	}
}

// TestKeyQuick: the same properties over testing/quick's random strings.
func TestKeyQuick(t *testing.T) {
	seen := map[string]string{}
	prop := func(cc string) bool {
		k := checkKey(t, cc)
		if prev, dup := seen[k]; dup && prev != cc {
			t.Errorf("Key(%q) == Key(%q)", cc, prev)
			return false
		}
		seen[k] = cc
		return true
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 10000, Rand: mrand.New(mrand.NewSource(7))}); err != nil {
		t.Fatal(err)
	}
}

// TestKeyGolden pins keys: they name KV entries and subjects already stored,
// so their derivation must never change.
func TestKeyGolden(t *testing.T) {
	cases := []struct{ got, want string }{
		{Key(ccD45), ccD45},
		{Key("a.b"), "_LnM23I66h-9HLfVow1SCq_JXXcPl6sDFxiuP-urCyTQ"},
		{Key(""), "_47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"},
		{keys.OperationKey("", call57, op0fe), "_zM_tRxBzW1FDKKvLO73n3y-ufJm4MsisiggBrc2PmUk"},
		{keys.OperationKey("", call57, ""), "_cG0P6t_eeVxkq8rDdMiR4pLZV-_QadMLauWgK7shCbk"},
		{keys.CallKey(call57), "_XEUjDImam9dRWizC15xD4aTXl4kC2oSv5tENd0zRcrg"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: %q, want %q", i, c.got, c.want)
		}
	}
}

func TestOperationKeyAndCallKey(t *testing.T) {
	// Id formats of one call or operation give one key.
	if keys.OperationKey("", "57DAB8B1894C409AB240BD8BEAE78896", "0FE0623FD62842EDB4BD8AC290072CC5") != keys.OperationKey("", call57, op0fe) ||
		keys.OperationKey("", " {"+strings.ToUpper(call57)+"} ", op0fe) != keys.OperationKey("", call57, op0fe) {
		t.Error("id formats of one operation give different keys")
	}
	if keys.CallKey("57DAB8B1894C409AB240BD8BEAE78896") != keys.CallKey(call57) {
		t.Error("id formats of one call give different keys")
	}
	// With a clientContext, the clientContext decides.
	for _, cc := range keyCases() {
		if cc != "" && keys.OperationKey(cc, call57, op0fe) != Key(cc) {
			t.Errorf("keys.OperationKey(%q, ...) != Key(%q)", cc, cc)
		}
	}
	// Distinct (call, operation) pairs, including ids with NUL that would make
	// a NUL-separated form ambiguous, get distinct keys; call keys are apart.
	pairs := [][2]string{{call57, op0fe}, {call57, ""}, {"", call57}, {"", ""}, {call421, op0fe},
		{"a\x00b", "c"}, {"a", "b\x00c"}, {"a\x00", "b"}, {"a", "\x00b"}, {"a", "b"}, {"a\x00b", ""}, {"a", "b\x00"},
		{"\x00", ""}, {"", "\x00"}, {"1\x00", "x"}, {"1", "\x00x"}, {"op", "x"}, {"call", ""}}
	seen := map[string]string{}
	add := func(k, what string) {
		t.Helper()
		checkSubject(t, inbound.InSubject(graphwire.KindOperation, k), 4)
		if !kvKeyRe.MatchString(k) || strings.Contains(k, ".") {
			t.Fatalf("%s = %q is not a KV key", what, k)
		}
		if prev, dup := seen[k]; dup {
			t.Fatalf("%s and %s share key %q", what, prev, k)
		}
		seen[k] = what
	}
	for _, p := range pairs {
		add(keys.OperationKey("", p[0], p[1]), fmt.Sprintf("keys.OperationKey(%q, %q)", p[0], p[1]))
	}
	for _, c := range []string{call57, call421, "", "a", "a\x00b", "\x00op\x00a"} {
		add(keys.CallKey(c), fmt.Sprintf("keys.CallKey(%q)", c))
	}
	// ...and never meet the key of a valid clientContext: derived keys are
	// hashed (never plain) from strings holding NUL, which no valid
	// clientContext holds.
	for _, cc := range keyCases() {
		if graphid.ValidateClientContext(cc) != nil {
			continue
		}
		if what, dup := seen[Key(cc)]; dup {
			t.Fatalf("Key(%q) collides with %s", cc, what)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		b := make([]rune, r.IntN(40))
		for j := range b {
			b[j] = rune(0x20 + r.IntN(0x3000))
		}
		cc := string(b)
		if !utf8.ValidString(cc) || graphid.ValidateClientContext(cc) != nil {
			continue
		}
		if what, dup := seen[Key(cc)]; dup {
			t.Fatalf("Key(%q) collides with %s", cc, what)
		}
	}
	for _, pre := range []string{"\x00op\x00" + call57 + "\x00" + op0fe, "\x00call\x00" + call57, "\x00op2\x00"} {
		if graphid.ValidateClientContext(pre) == nil {
			t.Fatalf("%q, a derived key's preimage, is a valid clientContext", pre)
		}
	}
}

// TestKeysOnJetStream: the keys work as KV keys on a real server, and a
// subscriber filtering on its clientContext gets its own events and no others.
func TestKeysOnJetStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := natstest.Run(t)
	nc, js := natstest.Connect(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "KEYS"})
	if err != nil {
		t.Fatal(err)
	}
	ccs := keyCases()
	for _, cc := range ccs {
		if _, err := kv.Put(ctx, Key(cc), []byte(cc)); err != nil {
			t.Fatalf("KV Put(Key(%q) = %q): %v", cc, Key(cc), err)
		}
	}
	for _, k := range []string{keys.OperationKey("", call57, op0fe), keys.OperationKey("", "a\x00", "b"), keys.CallKey(call57)} {
		if _, err := kv.Put(ctx, k, nil); err != nil {
			t.Fatalf("KV Put(%q): %v", k, err)
		}
	}
	for _, cc := range ccs {
		e, err := kv.Get(ctx, Key(cc))
		if err != nil || string(e.Value()) != cc {
			t.Fatalf("KV Get(Key(%q)): %v", cc, err)
		}
	}

	// One subscription per clientContext, every status published for each.
	subs := make([]*nats.Subscription, len(ccs))
	for i, cc := range ccs {
		if cc == "" {
			continue // "" filters all, by design
		}
		if subs[i], err = nc.SubscribeSync(resolvedFilter(cc, "")); err != nil {
			t.Fatalf("subscribe %q: %v", resolvedFilter(cc, ""), err)
		}
	}
	for _, cc := range ccs {
		for _, s := range allStatuses {
			if err := nc.Publish(ResolvedSubject(Key(cc), s), []byte(cc)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, cc := range ccs {
		if subs[i] == nil {
			continue
		}
		for range allStatuses {
			m, err := subs[i].NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("subscriber of %q: %v", cc, err)
			}
			if string(m.Data) != cc {
				t.Errorf("subscriber of %q got an event of %q on %s", cc, m.Data, m.Subject)
			}
		}
	}
	// Everything was delivered before the flush's PONG: nothing else is queued.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, cc := range ccs {
		if subs[i] == nil {
			continue
		}
		if n, _, _ := subs[i].Pending(); n != 0 {
			t.Errorf("subscriber of %q got %d events of others", cc, n)
		}
	}
}

func FuzzKey(f *testing.F) {
	cases := keyCases()
	for i, s := range cases {
		f.Add(s, cases[(i+1)%len(cases)])
	}
	for _, b := range graphtest.Payloads(f) {
		f.Add(string(b), string(b[:len(b)/2]))
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := checkKey(t, a), checkKey(t, b)
		if a != b && ka == kb {
			t.Fatalf("Key(%q) == Key(%q) == %q", a, b, ka)
		}
		if graphid.ValidateClientContext(a) == nil {
			for _, derived := range []string{keys.OperationKey("", b, a), keys.OperationKey("", a, b), keys.OperationKey("", a, ""), keys.CallKey(a), keys.CallKey(b)} {
				if derived == ka {
					t.Fatalf("Key(%q) meets a derived key", a)
				}
			}
		}
		if keys.OperationKey(a, b, b) != Key(a) && a != "" {
			t.Fatal("OperationKey with a clientContext is not its Key")
		}
		if graphid.NormalizeID(a) != graphid.NormalizeID(b) && keys.OperationKey("", a, b) == keys.OperationKey("", b, a) {
			t.Fatalf("keys.OperationKey(%q, %q) == keys.OperationKey(%q, %q)", a, b, b, a)
		}
	})
}
