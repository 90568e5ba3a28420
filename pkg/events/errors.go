package events

import (
	"errors"

	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/jsonx"
)

// Sentinel errors returned (wrapped) by this package. Test with errors.Is.
var (
	// ErrInvalidJSON: the payload is not well-formed JSON or not a JSON object
	// where one is required.
	ErrInvalidJSON = evterr.ErrInvalidJSON
	// ErrInvalidPayload: the JSON is well formed but misses a required field or
	// has a field of an impossible value; the wrapped message names the field.
	ErrInvalidPayload = evterr.ErrInvalidPayload
	// ErrInvalidStatus: a status string that is none of notStarted, running,
	// completed, failed (any casing) nor stalled.
	ErrInvalidStatus = evterr.ErrInvalidStatus
	// ErrClientContextTooLong: a clientContext over MaxClientContextLen characters.
	ErrClientContextTooLong = evterr.ErrClientContextTooLong
	// ErrClientContextInvalid: a clientContext holding control characters or
	// invalid UTF-8.
	ErrClientContextInvalid = evterr.ErrClientContextInvalid
	// ErrNotCloudEvent: a NATS message that lacks the CloudEvents binary-mode
	// headers (ce-specversion, ce-id, ce-source, ce-type) or holds invalid ones.
	ErrNotCloudEvent = evterr.ErrNotCloudEvent
	// ErrBadHeaderEncoding: a ce- header value with a malformed percent-encoding.
	ErrBadHeaderEncoding = evterr.ErrBadHeaderEncoding
	// ErrTooDeep: JSON nested deeper than 32 levels.
	ErrTooDeep = evterr.ErrTooDeep
	// ErrTooManyItems: a Graph notification callback with more than 1,000
	// resources (the ingest refuses it).
	ErrTooManyItems = evterr.ErrTooManyItems
	// ErrTooLarge: what a request would store exceeds a storage bound: more
	// than the ingest's budget for its body (4 × the body + 2 KiB per event)
	// in all, or one event over the server's max_payload or 8 KiB of
	// headers. Nothing was stored; sending it again cannot succeed.
	ErrTooLarge = evterr.ErrTooLarge
	// ErrValueTooLong: an id or name that goes into an event header (call
	// id, operation id, changeType, message id) over 128 bytes.
	ErrValueTooLong = evterr.ErrValueTooLong
	// ErrDuplicateMember: a JSON object with two members that name the same
	// known field (in the same or another casing), or, in Graph's own
	// objects (operations, notification items), a member naming a known
	// field in another casing than Graph's. Readers disagree on what such
	// input means, so it is refused rather than given one meaning here and
	// another downstream.
	ErrDuplicateMember = evterr.ErrDuplicateMember
	// ErrClosed: the Operations was closed, or the Subscriber's NATS
	// connection was.
	ErrClosed = errors.New("events: closed")
)

// ErrNotFound: Operations.Get found nothing resolved for the clientContext.
var ErrNotFound = errors.New("events: not found")

// Errors of the Subscriber and of the constructors' options. Test with errors.Is.
var (
	// ErrInvalidOption: a constructor or call was given an option with an
	// impossible value, or two options that contradict each other; the
	// wrapped message names the option.
	ErrInvalidOption = errors.New("events: invalid option")
	// ErrAlreadyRunning: Run was called while an earlier Run of the same
	// Subscriber had not returned. Run several Subscribers (with the same
	// Durable) to share the work instead.
	ErrAlreadyRunning = errors.New("events: subscriber already running")
	// ErrUndecodable is reported through OnError, wrapped with the cause (an
	// ErrNotCloudEvent, ErrBadHeaderEncoding, ErrInvalidJSON or ErrInvalidPayload) and the
	// message's subject and stream sequence, for a COMMS_RESOLVED message that
	// is not a resolved operation event. Run terminates it (it is never
	// delivered to this consumer again) and goes on with the next.
	ErrUndecodable = errors.New("events: undecodable resolved event")
	// ErrHandlerPanic is reported through OnError when the handler panicked.
	// The event is then treated as if the handler had returned this error: it
	// is redelivered after the backoff.
	ErrHandlerPanic = errors.New("events: handler panicked")
	// ErrDeliveriesExhausted is reported through OnError, wrapping the
	// handler's error, when the handler failed on the MaxDeliver-th delivery of
	// an event: the server will not deliver it to this consumer again. The
	// event stays in COMMS_RESOLVED; replay it with StartAtSequence.
	ErrDeliveriesExhausted = errors.New("events: handler failed on the last allowed delivery")
)

// ErrNotStored is returned (wrapped) when JetStream did not acknowledge what
// was to be stored: unavailable, slow, or refusing for a reason that may
// pass; it may have been stored all the same. Storing it again is safe: ids
// are content-derived and deduplicated by the stream.
var ErrNotStored = evterr.ErrNotStored

// ErrCaptureDropped is reported through OnCaptureError for an action
// response not stored: too many stores pending, a body too large, or no
// store within CaptureRetryFor.
var ErrCaptureDropped = errors.New("events: action response not captured")

// quoteShort returns b quoted for an error message, cut after
// jsonx.ShortLen bytes (see jsonx.QuoteShort).
func quoteShort[T ~string | ~[]byte](b T) string { return jsonx.QuoteShort(b) }
