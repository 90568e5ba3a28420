package events

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/commsops/commsops/internal/graphid"
)

// MaxClientContextLen is Graph's limit on clientContext, in characters.
const MaxClientContextLen = 256

// maxPlainKey bounds the length of a clientContext used verbatim as a key.
const maxPlainKey = 64

// Key maps a clientContext to one subject-safe token that is also a valid
// JetStream KV key. A clientContext made only of ASCII letters, digits and '-'
// (GUIDs, the usual case), 1 to 64 long, is its own key, so keys stay readable.
// Anything else (dots, spaces, '*', '>', non-ASCII, long or empty strings) maps to
// "_" followed by the unpadded base64url SHA-256 of its UTF-8 bytes. '_' never
// starts a verbatim key, so two different clientContexts never share a key
// (up to SHA-256 collisions). The result never contains '.', '*', '>' or
// white space and so can never add a token to, or widen, a subject filter.
func Key(clientContext string) string {
	if plainKey(clientContext) {
		return clientContext
	}
	return hashedKey(clientContext)
}

// operationKey returns the key that orders an operation's evidence: Key of its
// clientContext when it has one, else a key derived from its normalised call id
// and operation id (or from the call id alone when the operation id is unknown).
// The derived keys live in a namespace no clientContext can reach: they hash a
// NUL-separated string, and clientContexts holding control characters are invalid.
func operationKey(clientContext, callID, operationID string) string {
	if clientContext != "" {
		return Key(clientContext)
	}
	callID, operationID = graphid.NormalizeID(callID), graphid.NormalizeID(operationID)
	if strings.IndexByte(callID, 0) >= 0 || strings.IndexByte(operationID, 0) >= 0 {
		// Ids holding NUL would make the NUL-separated form ambiguous ("a\x00b"+"c"
		// vs "a"+"b\x00c"): length-prefix them, in a namespace of their own.
		return hashedKey("\x00op2\x00" + strconv.Itoa(len(callID)) + "\x00" + callID + operationID)
	}
	return hashedKey("\x00op\x00" + callID + "\x00" + operationID)
}

// callKey returns the key of the evidence about a call itself (call state,
// participants, tones), derived from its normalised call id.
func callKey(callID string) string {
	return hashedKey("\x00call\x00" + graphid.NormalizeID(callID))
}

func plainKey(s string) bool {
	if len(s) == 0 || len(s) > maxPlainKey {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func hashedKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "_" + base64.RawURLEncoding.EncodeToString(sum[:])
}
