// Package evterr holds the sentinel errors that pkg/events shares with the
// internal packages it imports (internal/jsonx, internal/cehdr,
// internal/subjects, internal/graphid, internal/graphwire, internal/inbound). pkg/events re-exports each one under
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
	ErrInvalidJSON          = errors.New("events: invalid JSON")
	ErrInvalidStatus        = errors.New("events: invalid status")
	ErrTooDeep              = errors.New("events: JSON nested too deeply")
	ErrTooManyItems         = errors.New("events: too many items in callback")
	ErrTooLarge             = errors.New("events: too large to store")
	ErrValueTooLong         = errors.New("events: value too long")
	ErrNotStored            = errors.New("events: not stored")
)
