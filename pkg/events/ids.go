package events

import (
	"strings"
)

// NormalizeID returns the canonical form of a Graph id: trimmed, braces removed,
// lower-case, and a 32-hex-digit GUID with or without dashes rendered as
// 8-4-4-4-12. So "57DAB8B1894C409AB240BD8BEAE78896" and
// "57dab8b1-894c-409a-b240-bd8beae78896" normalise to the same string. Ids that
// are not GUIDs are only trimmed and lower-cased.
func NormalizeID(id string) string {
	if isGUID(id) { // already canonical: the common case, without allocating
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

// ResourcePath is what a Graph resource URL says: the call it belongs to and,
// for operations, the operation id.
type ResourcePath struct {
	// CallID is the normalised call id, "" when the URL names no call.
	CallID string
	// OperationID is the normalised operation id, "" when the URL names no
	// operation or a collection (".../operations/participants").
	OperationID string
	// IsOperation reports whether the URL points under /operations/.
	IsOperation bool
}

// ParseResourcePath reads a Graph resource URL in any of its logged forms:
// "/communications/calls/{id}/operations/{id}", the older "/app/calls/{id}/...",
// with or without the leading '/', absolute or relative, in any casing.
func ParseResourcePath(url string) ResourcePath {
	var p ResourcePath
	url = strings.TrimSpace(url)
	if i := strings.Index(url, "?"); i >= 0 {
		url = url[:i]
	}
	url = strings.Trim(url, "/")
	var prev, seg string // walk the segments pairwise without splitting
	for rest, more := url, true; more; prev = seg {
		seg, rest, more = strings.Cut(rest, "/")
		switch strings.ToLower(prev) { // no copy when already lower case
		case "calls":
			if p.CallID == "" {
				p.CallID = NormalizeID(seg)
			}
		case "operations":
			p.IsOperation = true
			if id := NormalizeID(seg); looksLikeOperationID(id) {
				p.OperationID = id
			}
		}
	}
	if strings.EqualFold(prev, "operations") {
		p.IsOperation = true
	}
	return p
}

// looksLikeOperationID rejects collection names such as "participants" that
// appear where an operation id would stand.
func looksLikeOperationID(id string) bool {
	if id == "" || id == "null" {
		return false
	}
	if isGUID(id) { // a GUID may, rarely, hold no digit at all
		return true
	}
	for i := 0; i < len(id); i++ {
		if id[i] >= '0' && id[i] <= '9' {
			return true
		}
	}
	return false
}

// isGUID reports whether id is a GUID in NormalizeID's canonical form.
func isGUID(id string) bool {
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
