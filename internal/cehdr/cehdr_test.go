package cehdr

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/commsops/commsops/internal/evterr"
)

// guid is a clientContext of the form bots usually send.
const guid = "d45324c1-fcb5-430a-902c-f20af696537c"

func TestEncoding(t *testing.T) {
	var safe strings.Builder
	for c := byte(0x21); c <= 0x7e; c++ {
		if c != '"' && c != '%' {
			safe.WriteByte(c)
		}
	}
	cases := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"all safe characters unchanged", safe.String(), safe.String()},
		{"GUID unchanged", guid, guid},
		{"space", "a b", "a%20b"},
		{"double quote", `"q"`, "%22q%22"},
		{"percent", "100%", "100%25"},
		{"an escape-looking value", "%20", "%2520"},
		{"two-byte UTF-8", "é", "%C3%A9"},
		{"three-byte UTF-8", "日", "%E6%97%A5"},
		{"four-byte UTF-8", "😀", "%F0%9F%98%80"},
		{"NUL", "\x00", "%00"},
		{"tab", "\t", "%09"},
		{"CR LF", "\r\n", "%0D%0A"},
		{"DEL", "\x7f", "%7F"},
		{"C1", "\u0085", "%C2%85"},
		{"mixed", "a b%c\"d\u00e9", "a%20b%25c%22d%C3%A9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Encode(c.in)
			if got != c.want {
				t.Fatalf("Encode(%q) = %q, want %q", c.in, got, c.want)
			}
			for i := 0; i < len(got); i++ {
				if got[i] < 0x21 || got[i] > 0x7e || got[i] == '"' {
					t.Fatalf("Encode(%q) = %q holds byte %#x", c.in, got, got[i])
				}
			}
			back, err := Decode(got)
			if err != nil || back != c.in {
				t.Fatalf("Decode(%q) = %q, %v; want %q", got, back, err, c.in)
			}
			if std, err := url.PathUnescape(got); err != nil || std != c.in {
				t.Fatalf("a standard decoder reads %q as %q (%v)", got, std, err)
			}
		})
	}
	// Every ASCII byte and a spread of runes survive a round trip.
	for r := rune(0); r < 0x3000; r++ {
		s := "x" + string(r) + "y"
		if back, err := Decode(Encode(s)); err != nil || back != s {
			t.Fatalf("round trip of %U: %q, %v", r, back, err)
		}
	}
	// Lower-case hex and unescaped safe text are read too.
	for in, want := range map[string]string{"%c3%a9": "é", "plain": "plain", "a%2Fb": "a/b", "%41%42": "AB"} {
		if got, err := Decode(in); err != nil || got != want {
			t.Errorf("Decode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"%", "%4", "abc%", "%zz", "%4g", "%g4", "%%", "%%41", "%C3", "%FF", "%C0%AF", "%ED%A0%80",
		"a\xffb", "\xc3", "%E6%97"} {
		t.Run("reject "+bad, func(t *testing.T) {
			got, err := Decode(bad)
			if !errors.Is(err, evterr.ErrBadHeaderEncoding) || got != "" {
				t.Fatalf("Decode(%q) = %q, %v; want ErrBadHeaderEncoding", bad, got, err)
			}
		})
	}
}
