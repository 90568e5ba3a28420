package jsonx

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/commsops/commsops/internal/graphwire/graphtest"
)

// The scanner must split valid JSON exactly as encoding/json decodes it into
// map[string]json.RawMessage and []json.RawMessage: these tests and fuzz
// targets compare the two on the same input.

var scanSeeds = []string{
	`{}`,
	` { "a" : 1 , "b" : [1, {"c":"]"}], "d":"\"}" } `,
	`{"a":1,"a":2,"b":null}`,
	`{"esc\u0061ped":"v","a\"b":{"x":[]}}`,
	"{\"bad\xffutf8\":true}",
	`{"n":-1.5e+3,"t":true,"f":false,"s":"\\","o":{"p":{"q":{}}}}`,
	`[]`,
	` [ 1 , "two" , {"three":3} , [4] , null , true ] `,
	`"not an object"`,
	`12`,
}

// decodeMembers is what encoding/json makes of an object: each name's last
// value, compacted (the scanner leaves inner white space alone).
func decodeMembers(t *testing.T, data []byte) (map[string]string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil || m == nil {
		return nil, false
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = compactJSON(t, v)
	}
	return out, true
}

func checkMembers(t *testing.T, data []byte) {
	want, isObj := decodeMembers(t, data)
	got := map[string]string{} // the last of each name, as a map keeps it
	for _, m := range AppendMembers(nil, data) {
		got[string(m.Name)] = compactJSON(t, m.Value)
	}
	if !isObj {
		if len(got) != 0 {
			t.Fatalf("%q is not an object but yielded %v", data, got)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%q: scanner %v, encoding/json %v", data, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%q member %q: scanner %q, encoding/json %q", data, k, got[k], v)
		}
	}
}

func checkElements(t *testing.T, data []byte) {
	var want []json.RawMessage
	isArr := json.Unmarshal(data, &want) == nil && want != nil
	got := AppendElements(nil, data)
	if !isArr {
		if len(got) != 0 {
			t.Fatalf("%q is not an array but yielded %q", data, got)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%q: scanner %d elements, encoding/json %d", data, len(got), len(want))
	}
	for i := range want {
		if g, w := compactJSON(t, got[i]), compactJSON(t, want[i]); g != w {
			t.Fatalf("%q element %d: scanner %q, encoding/json %q", data, i, g, w)
		}
	}
}

func TestScannerMatchesEncodingJSON(t *testing.T) {
	many := []byte(`{"k0":0`)
	for i := 1; i < 40; i++ { // past the quadratic dedupe's size
		many = append(many, `,"k`...)
		many = append(many, byte('0'+i%7))
		many = append(many, `":`...)
		many = append(many, byte('0'+i%10))
	}
	many = append(many, '}')
	for _, s := range append(scanSeeds, string(many)) {
		t.Run(s, func(t *testing.T) {
			checkMembers(t, []byte(s))
			checkElements(t, []byte(s))
			if json.Valid([]byte(s)) {
				if got, want := string(AppendCompact(nil, []byte(s))), compactJSON(t, []byte(s)); got != want {
					t.Fatalf("AppendCompact = %q, json.Compact %q", got, want)
				}
			}
		})
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	for _, b := range graphtest.Payloads(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // the scanner is only ever given checked JSON
		}
		checkMembers(t, data)
		checkElements(t, data)
		if got, want := string(AppendCompact([]byte("x"), data)), "x"+compactJSON(t, data); got != want {
			t.Fatalf("AppendCompact(%q) = %q, json.Compact %q", data, got, want)
		}
	})
}

// compactJSON returns b as json.Compact writes it.
func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return buf.String()
}

func TestQuoteShort(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"abc", `"abc"`},
		{strings.Repeat("a", ShortLen), `"` + strings.Repeat("a", ShortLen) + `"`},
		{strings.Repeat("a", 500_000), `"` + strings.Repeat("a", ShortLen) + `"… (500000 bytes)`},
		{strings.Repeat("a", ShortLen-1) + "é" + "zz", `"` + strings.Repeat("a", ShortLen-1) + `"… (35 bytes)`},
	} {
		if got := QuoteShort(tc.in); got != tc.want {
			t.Errorf("QuoteShort(%.40q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
