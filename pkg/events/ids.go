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
	segs := strings.Split(strings.Trim(url, "/"), "/")
	for i := 0; i < len(segs)-1; i++ {
		switch strings.ToLower(segs[i]) {
		case "calls":
			if p.CallID == "" {
				p.CallID = NormalizeID(segs[i+1])
			}
		case "operations":
			p.IsOperation = true
			if id := NormalizeID(segs[i+1]); looksLikeOperationID(id) {
				p.OperationID = id
			}
		}
	}
	if n := len(segs); n > 0 && strings.EqualFold(segs[n-1], "operations") {
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
	return len(id) == 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-' &&
		isHex(id[0:8]+id[9:13]+id[14:18]+id[19:23]+id[24:36])
}
