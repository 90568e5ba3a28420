// Package cehdr owns the CloudEvents binary content mode over NATS headers:
// EncodeMsg and DecodeMsg (pkg/events publishes them), the resolver's fast
// paths that write and read the same headers without an SDK event
// (codec_fast.go, pinned to the general codec by tests), and the
// percent-encoding of header values the binding requires.
package cehdr

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/commsops/commsops/internal/evterr"
)

// Encode encodes a header value as the CloudEvents NATS binding
// requires: the string's UTF-8 bytes, with space, '"', '%' and every byte
// outside 0x21..0x7E written as %XX (upper-case hex).
func Encode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if mustEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if mustEscape(c) {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// EncodedLen returns len(Encode(s)) without encoding.
func EncodedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if mustEscape(s[i]) {
			n += 2
		}
	}
	return n
}

func mustEscape(c byte) bool { return c <= 0x20 || c >= 0x7f || c == '"' || c == '%' }

// Decode reverses Encode. It returns an error wrapping evterr.ErrBadHeaderEncoding for a
// '%' not followed by two hex digits or a result that is not valid UTF-8.
func Decode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("%w: not UTF-8", evterr.ErrBadHeaderEncoding)
		}
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("%w: truncated escape in %q", evterr.ErrBadHeaderEncoding, s)
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("%w: bad escape %q", evterr.ErrBadHeaderEncoding, s[i:i+3])
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: not UTF-8 after decoding", evterr.ErrBadHeaderEncoding)
	}
	return string(b), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
