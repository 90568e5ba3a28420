// Package keys maps clientContexts and Graph ids to the subject-safe tokens
// that order evidence in COMMS_IN, COMMS_RESOLVED and the state bucket.
// pkg/events publishes Key; the ingest's derived keys for evidence without a
// clientContext (OperationKey, CallKey) stay internal.
package keys

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/commsops/commsops/internal/graphid"
)

// maxPlainKey bounds the length of a clientContext used verbatim as a key.
const maxPlainKey = 64

// Key maps a clientContext to one subject-safe token that is also a valid
// JetStream KV key; events.Key documents the mapping, which never changes.
func Key(clientContext string) string {
	if plainKey(clientContext) {
		return clientContext
	}
	return hashedKey(clientContext)
}

// OperationKey returns the key that orders an operation's evidence: Key of its
// clientContext when it has one, else a key derived from its normalised call id
// and operation id (or from the call id alone when the operation id is unknown).
// The derived keys live in a namespace no clientContext can reach: they hash a
// NUL-separated string, and clientContexts holding control characters are invalid.
func OperationKey(clientContext, callID, operationID string) string {
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

// CallKey returns the key of the evidence about a call itself (call state,
// participants, tones), derived from its normalised call id.
func CallKey(callID string) string {
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
