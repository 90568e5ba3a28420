package forwarder

import "errors"

// Sentinel errors of the forwarder. Test with errors.Is.
var (
	// ErrConfig is returned (wrapped) for an invalid configuration.
	ErrConfig = errors.New("forwarder: invalid configuration")
	// ErrUndecodable marks a COMMS_RESOLVED message that is not a CloudEvent:
	// it is dead-lettered on its first delivery.
	ErrUndecodable = errors.New("forwarder: not a CloudEvent")
	// ErrSinkStatus marks an answer of the sink other than 2xx.
	ErrSinkStatus = errors.New("forwarder: sink refused the event")
	// ErrSinkTimeout marks a delivery that took longer than Config.Timeout.
	ErrSinkTimeout = errors.New("forwarder: sink timed out")
)
