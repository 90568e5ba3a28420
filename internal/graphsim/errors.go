package graphsim

import "errors"

// Sentinel errors.
var (
	// ErrConfig: an invalid Config, fault list or retry setting.
	ErrConfig = errors.New("graphsim: invalid configuration")
	// ErrUnknownCall: no call has that id.
	ErrUnknownCall = errors.New("graphsim: unknown call")
)
