package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/jsonx"
)

// sentinels are the documented errors of pkg/events/errors.go: every rejection wraps one.
var sentinels = []error{evterr.ErrInvalidJSON, evterr.ErrInvalidPayload, evterr.ErrInvalidStatus, evterr.ErrClientContextTooLong,
	evterr.ErrClientContextInvalid, evterr.ErrNotCloudEvent, evterr.ErrBadHeaderEncoding, evterr.ErrTooDeep, evterr.ErrTooManyItems,
	evterr.ErrTooLarge, evterr.ErrValueTooLong, evterr.ErrDuplicateMember}

func wrapsSentinel(err error) bool {
	return slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) })
}

// resourceTypeOf returns the @odata.type of a resourceData element, "" if
// absent or if resource is not a valid JSON object.
func resourceTypeOf(resource json.RawMessage) string {
	if !json.Valid(resource) {
		return ""
	}
	t, _ := graphwire.ResourceType(resource)
	return t
}

// checkSubject asserts a subject has exactly n non-empty tokens and no wildcard or white space.
func checkSubject(t testing.TB, subject string, n int) {
	t.Helper()
	toks := strings.Split(subject, ".")
	if len(toks) != n || slices.Contains(toks, "") || strings.ContainsAny(subject, "*> \t\r\n") {
		t.Fatalf("subject %q: want %d tokens and no wildcard", subject, n)
	}
}

// kvKeyRe is nats.go's JetStream KV key syntax; keys must also avoid '.', so
// that a key stays one subject token.
var kvKeyRe = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

// isNull reports whether a valid JSON value is null or absent (empty).
func isNull(v []byte) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// looseString returns what graphwire reads from a valid JSON value where it
// expects a string: the string's value (invalid UTF-8 as U+FFFD), "" for
// null, the literal text of a number or boolean; objects and arrays are an
// error.
func looseString(v []byte) (string, error) {
	v = bytes.TrimSpace(v)
	if isNull(v) {
		return "", nil
	}
	switch v[0] {
	case '"':
		return string(jsonx.StringValue(v)), nil
	case '{', '[':
		return "", evterr.ErrInvalidPayload
	}
	return string(v), nil
}
