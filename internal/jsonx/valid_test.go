package jsonx

import (
	"encoding/json"
	"strings"
	"testing"
)

// nesting is the depth count checkDepth made in its own pass before
// ValidDepth: containers opened outside strings, for valid JSON.
func nesting(data []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// checkValidDepth asserts ValidDepth agrees with encoding/json.Valid and, for
// valid data, with the separate depth count.
func checkValidDepth(t *testing.T, data []byte) {
	t.Helper()
	valid, depth := ValidDepth(data)
	if want := json.Valid(data); valid != want {
		t.Fatalf("ValidDepth(%q) valid = %v, encoding/json says %v", data, valid, want)
	}
	if valid && depth != nesting(data) {
		t.Fatalf("ValidDepth(%q) depth = %d, want %d", data, depth, nesting(data))
	}
}

var validDepthSeeds = []string{
	``, ` `, `1`, `-`, `-0`, `01`, `1.`, `1.5`, `1e`, `1E+2`, `1e-0`, `-1.0e10`, `0.e1`, `.5`, `+1`, `1 2`,
	`true`, `tru`, `truex`, `false`, `null`, `nul`, `NaN`, `"`, `""`, `"a`, `"\"`, `"\\"`, `"\/"`, `"\u00e9"`, `"\u00g9"`,
	`"\u12"`, `"\x"`, "\"\x01\"", "\"\x7f\xff\"", "\"\t\"", `{}`, `{ }`, `[]`, `[ ]`, `[1,]`, `[,1]`, `[1 2]`, `{"a":1,}`,
	`{"a" : [1, {"b": null}] }`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `[[]]]`, `[[]`, "\n\r\t[1]\n", `{"x":"]}"}`,
	`{"value":[{"resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"1"}}]}`,
	strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting),
	strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1),
	strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40),
}

// TestValidDepth: ValidDepth agrees with encoding/json on the edges of the
// grammar and of its nesting limit.
func TestValidDepth(t *testing.T) {
	for _, s := range validDepthSeeds {
		checkValidDepth(t, []byte(s))
	}
	if _, depth := ValidDepth([]byte(strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting))); depth != maxNesting {
		t.Fatalf("depth %d, want %d", depth, maxNesting)
	}
}

func FuzzValidDepth(f *testing.F) {
	for _, s := range validDepthSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkValidDepth(t, data) })
}
