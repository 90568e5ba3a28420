// Package evterr holds the sentinel errors that pkg/events shares with the
// internal packages it imports (internal/jsonx, internal/cehdr,
// internal/subjects, internal/graphid). pkg/events re-exports each one under
// the same name, so errors.Is matches whichever package returned the error.
package evterr

import "errors"

// Sentinel errors; pkg/events/errors.go documents what each means.
var (
	ErrInvalidPayload       = errors.New("events: invalid payload")
	ErrDuplicateMember      = errors.New("events: duplicate member")
	ErrBadHeaderEncoding    = errors.New("events: malformed percent-encoding in header")
	ErrNotCloudEvent        = errors.New("events: not a CloudEvents binary-mode message")
	ErrClientContextTooLong = errors.New("events: clientContext too long")
	ErrClientContextInvalid = errors.New("events: clientContext has control characters or invalid UTF-8")
)
