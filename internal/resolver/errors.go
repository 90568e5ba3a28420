package resolver

import "errors"

// Sentinel errors of the resolver. Test with errors.Is.
var (
	// ErrPoison marks a message that can never be processed (not a
	// CloudEvent, unknown type, invalid data). It is dead-lettered to COMMS_DLQ
	// and terminated, without blocking its key.
	ErrPoison = errors.New("resolver: unprocessable message")
	// ErrFenced is returned when the state of a key changed under this worker
	// (a KV revision compare-and-swap failed): another worker owns the key now,
	// or did meanwhile. The worker reloads the state and tries again.
	ErrFenced = errors.New("resolver: state changed by another writer")
	// ErrConfig is returned (wrapped) for an invalid worker configuration.
	ErrConfig = errors.New("resolver: invalid configuration")

	// errNoRetry marks a failure that retrying cannot mend: a state or event
	// larger than the bucket, stream or server takes, a state or event that
	// cannot be encoded, or a stored state that cannot be decoded. The message is left
	// for redelivery (and dead-lettered on its last delivery) instead of
	// being retried in place.
	errNoRetry = errors.New("resolver: retrying cannot help")
)
