package graphid

import "testing"

const callGUID = "57dab8b1-894c-409a-b240-bd8beae78896"

func TestNormalizeID(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"upper dash-less GUID", "57DAB8B1894C409AB240BD8BEAE78896", callGUID},
		{"lower dashed GUID", callGUID, callGUID},
		{"upper dashed GUID", "57DAB8B1-894C-409A-B240-BD8BEAE78896", callGUID},
		{"braced GUID", "{57DAB8B1-894C-409A-B240-BD8BEAE78896}", callGUID},
		{"GUID with spaces", "  57dab8b1894c409ab240bd8beae78896\t", callGUID},
		{"GUID without any digit", "ABCDEFAB-CDEF-ABCD-EFAB-CDEFABCDEFAB", "abcdefab-cdef-abcd-efab-cdefabcdefab"},
		{"31 hex digits", "57DAB8B1894C409AB240BD8BEAE7889", "57dab8b1894c409ab240bd8beae7889"},
		{"33 hex digits", "57DAB8B1894C409AB240BD8BEAE788960", "57dab8b1894c409ab240bd8beae788960"},
		{"32 chars not hex", "57DAB8B1894C409AB240BD8BEAE7889Z", "57dab8b1894c409ab240bd8beae7889z"},
		{"not a GUID", " Not-A-Guid ", "not-a-guid"},
		{"Graph call id form", "491f0b00-ffff-4bc9-a43e-b226498ec22a", "491f0b00-ffff-4bc9-a43e-b226498ec22a"},
		{"empty", "", ""},
		{"only braces", "{}", ""},
		{"null literal", "null", "null"},
		{"non-ASCII", "ÄBC", "äbc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := NormalizeID(c.in)
			if got != c.want {
				t.Errorf("NormalizeID(%q) = %q, want %q", c.in, got, c.want)
			}
			if again := NormalizeID(got); again != got {
				t.Errorf("not idempotent: NormalizeID(%q) = %q", got, again)
			}
		})
	}
	// Graph's quirk: the URL and resourceData forms of one id agree.
	if NormalizeID("0FE0623FD62842EDB4BD8AC290072CC5") != NormalizeID("0fe0623f-d628-42ed-b4bd-8ac290072cc5") {
		t.Error("the two id formats of one operation differ after normalisation")
	}
}
