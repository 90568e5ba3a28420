package graphwire

import (
	"strings"
	"testing"
)

func TestParseResourcePath(t *testing.T) {
	cases := []struct {
		name, url string
		want      ResourcePath
	}{
		{"documented operation", "/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0FE0623FD62842EDB4BD8AC290072CC5",
			ResourcePath{call57, op0fe, true}},
		{"no leading slash", "communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0FE0623FD62842EDB4BD8AC290072CC5",
			ResourcePath{call57, op0fe, true}},
		{"older /app form", "/app/calls/57dab8b1-894c-409a-b240-bd8beae78896/operations/0fe0623f-d628-42ed-b4bd-8ac290072cc5",
			ResourcePath{call57, op0fe, true}},
		{"absolute URL", "https://graph.microsoft.com/v1.0/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0FE0623FD62842EDB4BD8AC290072CC5",
			ResourcePath{call57, op0fe, true}},
		{"query string", "/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0FE0623FD62842EDB4BD8AC290072CC5?$select=status",
			ResourcePath{call57, op0fe, true}},
		{"any casing", "/Communications/CALLS/57DAB8B1894C409AB240BD8BEAE78896/Operations/0FE0623FD62842EDB4BD8AC290072CC5",
			ResourcePath{call57, op0fe, true}},
		{"trailing slash", "/communications/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0FE0623FD62842EDB4BD8AC290072CC5/",
			ResourcePath{call57, op0fe, true}},
		{"invite collection", "/communications/calls/481f0b00-ffff-4ca1-8c67-a5f1e31c8e2a/operations/participants",
			ResourcePath{call481, "", true}},
		{"operations collection", "/communications/calls/abc/operations", ResourcePath{"abc", "", true}},
		{"operation id null", "/communications/calls/abc/operations/null", ResourcePath{"abc", "", true}},
		{"operation GUID without digits", "/communications/calls/abc/operations/ABCDEFABCDEFABCDEFABCDEFABCDEFAB",
			ResourcePath{"abc", "abcdefab-cdef-abcd-efab-cdefabcdefab", true}},
		{"non-GUID operation id", "/app/calls/abc/operations/1234", ResourcePath{"abc", "1234", true}},
		{"call", "/communications/calls/57DAB8B1894C409AB240BD8BEAE78896", ResourcePath{call57, "", false}},
		{"participants", "/communications/calls/57dab8b1-894c-409a-b240-bd8beae78896/participants", ResourcePath{call57, "", false}},
		{"participant", "/communications/calls/57dab8b1-894c-409a-b240-bd8beae78896/participants/2b9f3c41-1e2d-4c5b-8a7f-6e5d4c3b2a10",
			ResourcePath{call57, "", false}},
		{"calls collection", "/communications/calls", ResourcePath{}},
		{"empty", "", ResourcePath{}},
		{"slash", "/", ResourcePath{}},
		{"unrelated", "/users/abc/events", ResourcePath{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ParseResourcePath(c.url); got != c.want {
				t.Errorf("ParseResourcePath(%q) = %+v, want %+v", c.url, got, c.want)
			}
		})
	}
	// Never panics, whatever the input.
	for _, u := range []string{"calls", "operations", "/calls/", "//operations//", "?", "calls?x", strings.Repeat("/calls", 100)} {
		_ = ParseResourcePath(u)
	}
}
