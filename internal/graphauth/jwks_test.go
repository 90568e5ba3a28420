package graphauth

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// TestUsableKeys: only RSA keys fit for RS256 (alg RS256 or absent, use sig
// or absent, a kid, a modulus of at least 2048 bits, an odd exponent >= 3)
// are kept, and a document without one fails with errNoUsableKeys.
func TestUsableKeys(t *testing.T) {
	cases := []struct {
		file     string
		wantKids []string // nil: errNoUsableKeys
		skipped  int
		reason   string // a reason a skipped entry must give
	}{
		{"usable", []string{"static-1"}, 0, ""},
		{"duplicate-kid", []string{"static-1"}, 1, "same kid"},
		{"empty", nil, 0, ""},
		{"no-keys-member", nil, 0, ""},
		{"not-json", nil, 0, ""},
		{"ec-only", nil, 1, `kty "EC"`},
		{"oct-only", nil, 1, `kty "oct"`},
		{"rs512-only", nil, 1, `alg "RS512"`},
		{"ps256-only", nil, 1, `alg "PS256"`},
		{"enc-only", nil, 1, `use "enc"`},
		{"modulus-not-base64", nil, 1, "does not parse"},
		{"modulus-empty", nil, 1, `"n"`},
		{"modulus-1024", nil, 1, "modulus"},
		{"exponent-even", nil, 1, "exponent"},
		{"exponent-one", nil, 1, "exponent"},
		{"no-kid", nil, 1, "no kid"},
		{"all-unusable", nil, 11, ""},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join("testdata", "jwks", tc.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			set, skipped, err := usableKeys(doc)
			if len(skipped) != tc.skipped {
				t.Errorf("%d skipped (%+v), want %d", len(skipped), skipped, tc.skipped)
			}
			if tc.reason != "" && !slices.ContainsFunc(skipped, func(s skippedKey) bool { return strings.Contains(s.reason, tc.reason) }) {
				t.Errorf("no skipped entry says %q: %+v", tc.reason, skipped)
			}
			if tc.wantKids == nil {
				if !errors.Is(err, errNoUsableKeys) || set != nil {
					t.Fatalf("set %v, err = %v, want errNoUsableKeys", set, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kids []string
			for i := range set.Len() {
				key, _ := set.Key(i)
				kid, _ := key.KeyID()
				kids = append(kids, kid)
				if _, ok := key.(jwk.RSAPublicKey); !ok {
					t.Errorf("key %q is a %T, want an RSA public key", kid, key)
				}
				if names := key.Keys(); len(names) != 4 { // kty, kid, n, e
					t.Errorf("key %q keeps fields %v, want only kty, kid, n and e", kid, names)
				}
			}
			if !slices.Equal(kids, tc.wantKids) {
				t.Fatalf("kids %v, want %v", kids, tc.wantKids)
			}
		})
	}
}
