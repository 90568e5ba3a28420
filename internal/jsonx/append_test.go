package jsonx

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"
)

// TestAppendTimeRange: times RFC 3339 cannot write fail as they fail in
// json.Marshal, rather than being written in a form no reader parses back.
func TestAppendTimeRange(t *testing.T) {
	cases := []struct {
		name string
		at   time.Time
	}{
		{"year 10000 after UTC", time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -3600)).UTC()},
		{"year -1", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"offset of a day", time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999, time.UTC)},
		{"year 0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, wantErr := json.Marshal(c.at)
			got, err := AppendTime(nil, c.at)
			if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("AppendTime = %s (%v), json.Marshal %s (%v)", got, err, want, wantErr)
			}
		})
	}
}

func TestAppendRawRefusesInvalid(t *testing.T) {
	for _, v := range []string{``, `{`, `nul`, "\"\xff"} {
		if _, err := AppendRaw(nil, json.RawMessage(v)); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

// TestAppendRawMatchesMarshal: valid raw JSON is written as json.Marshal
// writes a json.RawMessage, compacted and HTML-escaped.
func TestAppendRawMatchesMarshal(t *testing.T) {
	for _, v := range []string{`{}`, ` { "a" : [1, 2] } `, `"<&>"`, "\"\u2028\"", `null`, `12.5`} {
		want, err := json.Marshal(json.RawMessage(v))
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendRaw([]byte("x"), json.RawMessage(v))
		if err != nil || string(got) != "x"+string(want) {
			t.Fatalf("AppendRaw(%q) = %s (%v), json.Marshal %s", v, got, err, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<a&b>", "\u2028\u2029", "\xff", "\x00\x1f\x7f", `"\`, "\b\f\n\r\t", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("AppendString(%q) = %s, json.Marshal %s", s, got[1:], want)
		}
	})
}

// TestAppendStringMatchesMarshal pins AppendString to json.Marshal on every
// byte alone and amid plain text, and on random strings of bytes and runes.
func TestAppendStringMatchesMarshal(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("AppendString(%q) = %s, json.Marshal %s", s, got[1:], want)
		}
	}
	for c := range 256 {
		check(string([]byte{byte(c)}))
		check("ab" + string([]byte{byte(c)}) + "cd")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	runes := []rune{'a', 'Z', '0', '"', '\\', '<', '>', '&', '\n', 0x1f, 0x7f, 'é', '日', '\u2028', '\u2029', 0x1f600}
	for range 5000 {
		var b []byte
		for range rng.IntN(24) {
			if rng.IntN(4) == 0 {
				b = append(b, byte(rng.IntN(256)))
			} else {
				b = utf8.AppendRune(b, runes[rng.IntN(len(runes))])
			}
		}
		check(string(b))
	}
}
