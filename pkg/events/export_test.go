package events

import "github.com/commsops/commsops/internal/subjects"

// ResolvedType and ResolvedSource moved to internal/subjects; these forward
// to it for the external tests of this package (subscriber_test.go) that
// still build resolved events by these names.

func ResolvedType(s Status) string { return subjects.ResolvedType(string(s)) }

func ResolvedSource(callID string) string { return subjects.ResolvedSource(callID) }
