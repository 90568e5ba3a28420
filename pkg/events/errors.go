package events

import "errors"

// Sentinel errors returned (wrapped) by this package. Test with errors.Is.
var (
	// ErrInvalidJSON: the payload is not well-formed JSON or not a JSON object
	// where one is required.
	ErrInvalidJSON = errors.New("events: invalid JSON")
	// ErrInvalidPayload: the JSON is well formed but misses a required field or
	// has a field of an impossible value; the wrapped message names the field.
	ErrInvalidPayload = errors.New("events: invalid payload")
	// ErrInvalidStatus: a status string that is none of notStarted, running,
	// completed, failed (any casing) nor stalled.
	ErrInvalidStatus = errors.New("events: invalid status")
	// ErrClientContextTooLong: a clientContext over MaxClientContextLen characters.
	ErrClientContextTooLong = errors.New("events: clientContext too long")
	// ErrClientContextInvalid: a clientContext holding control characters or
	// invalid UTF-8.
	ErrClientContextInvalid = errors.New("events: clientContext has control characters or invalid UTF-8")
	// ErrNotCloudEvent: a NATS message that lacks the CloudEvents binary-mode
	// headers (ce-specversion, ce-id, ce-source, ce-type) or holds invalid ones.
	ErrNotCloudEvent = errors.New("events: not a CloudEvents binary-mode message")
	// ErrBadHeaderEncoding: a ce- header value with a malformed percent-encoding.
	ErrBadHeaderEncoding = errors.New("events: malformed percent-encoding in header")
	// ErrTooDeep: JSON nested deeper than MaxJSONDepth.
	ErrTooDeep = errors.New("events: JSON nested too deeply")
	// ErrTooManyItems: a notification callback with more items than MaxItems.
	ErrTooManyItems = errors.New("events: too many items in callback")
	// ErrClosed: the Publisher or Subscriber was closed.
	ErrClosed = errors.New("events: closed")
)

// ErrNotFound: Operations.Get found nothing resolved for the clientContext.
var ErrNotFound = errors.New("events: not found")
