package graphwire

import (
	"strings"

	"github.com/commsops/commsops/internal/graphid"
)

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
				p.CallID = graphid.NormalizeID(seg)
			}
		case "operations":
			p.IsOperation = true
			if id := graphid.NormalizeID(seg); looksLikeOperationID(id) {
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
	if graphid.IsGUID(id) { // a GUID may, rarely, hold no digit at all
		return true
	}
	for i := 0; i < len(id); i++ {
		if id[i] >= '0' && id[i] <= '9' {
			return true
		}
	}
	return false
}
