// Package graphid normalises Graph ids and validates clientContexts: the
// checks pkg/events applies to every id and clientContext it stores or looks
// up, shared with the operations API and opsctl.
package graphid

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/commsops/commsops/internal/evterr"
)

// MaxClientContextLen is the longest clientContext accepted, in characters;
// equal to events.MaxClientContextLen.
const MaxClientContextLen = 256

// NormalizeID returns the canonical form of a Graph id: trimmed, braces removed,
// lower-case, and a 32-hex-digit GUID with or without dashes rendered as
// 8-4-4-4-12. So "57DAB8B1894C409AB240BD8BEAE78896" and
// "57dab8b1-894c-409a-b240-bd8beae78896" normalise to the same string. Ids that
// are not GUIDs are only trimmed and lower-cased.
func NormalizeID(id string) string {
	if IsGUID(id) { // already canonical: the common case, without allocating
		return id
	}
	id = strings.ToLower(strings.Trim(strings.TrimSpace(id), "{}"))
	hex := strings.ReplaceAll(id, "-", "")
	if len(hex) != 32 || !isHex(hex) {
		return id
	}
	return hex[0:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:32]
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// IsGUID reports whether id is a GUID in NormalizeID's canonical form.
func IsGUID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// ValidateClientContext returns nil for a clientContext Graph would accept and
// commsops can carry: at most MaxClientContextLen characters of valid UTF-8
// with no control characters.
func ValidateClientContext(cc string) error {
	if !utf8.ValidString(cc) {
		return fmt.Errorf("%w: not UTF-8", evterr.ErrClientContextInvalid)
	}
	if n := utf8.RuneCountInString(cc); n > MaxClientContextLen {
		return fmt.Errorf("%w: %d characters, at most %d", evterr.ErrClientContextTooLong, n, MaxClientContextLen)
	}
	for i, r := range cc {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: control character U+%04X at byte %d", evterr.ErrClientContextInvalid, r, i)
		}
	}
	return nil
}
