package jsonx

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/commsops/commsops/internal/evterr"
)

// The resolver writes a resolved event and a state on every message, so their
// JSON is appended without reflection, byte for byte what json.Marshal writes
// (the tests compare the two on random values).

// AppendString appends s as json.Marshal writes a string: quoted, with
// HTML characters and U+2028/U+2029 escaped, \b \f \n \r \t short, other
// control characters as \u00XX and invalid UTF-8 as \ufffd. It returns the
// extended slice.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainByte[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainByte marks the bytes AppendString copies as they are: printable
// ASCII other than '"', '\\' and the HTML characters.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendTime appends t as time.Time's MarshalJSON writes it (RFC 3339
// with nanoseconds, quoted) and returns the extended slice. Like MarshalJSON,
// it returns an error (evterr.ErrInvalidPayload) for a year outside 0 through 9999
// or a zone offset of a day or more, which RFC 3339 cannot write.
func AppendTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("%w: time %v: year outside of range [0,9999]", evterr.ErrInvalidPayload, t)
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return nil, fmt.Errorf("%w: time %v: zone offset of a day or more", evterr.ErrInvalidPayload, t)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// AppendRaw appends raw JSON as json.Marshal writes a json.RawMessage
// (compacted, HTML characters escaped) and returns the extended slice, or
// evterr.ErrInvalidPayload when v is not valid JSON.
func AppendRaw(b []byte, v json.RawMessage) ([]byte, error) {
	if rawAsIs(v) {
		return append(b, v...), nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", evterr.ErrInvalidPayload, err)
	}
	return append(b, out...), nil
}

// rawAsIs reports whether v is valid JSON already as json.Marshal writes it:
// no white space, no HTML characters, no U+2028/U+2029 (their first byte,
// 0xE2, is refused whatever follows).
func rawAsIs(v []byte) bool {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xE2:
			return false
		}
	}
	return json.Valid(v)
}
