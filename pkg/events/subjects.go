package events

import "github.com/commsops/commsops/internal/keys"

// Stream, bucket and subject names of the contract.
const (
	// StreamIn holds every ingested event.
	StreamIn = "COMMS_IN"
	// StreamResolved holds the resolver's resolved operation events.
	StreamResolved = "COMMS_RESOLVED"
	// StreamDeadLetter holds copies of input messages the resolver gave up on.
	StreamDeadLetter = "COMMS_DLQ"
	// BucketState is the KV bucket holding the resolver's per-key state.
	BucketState = "COMMS_OPS"

	// SubjectInPrefix prefixes every COMMS_IN subject.
	SubjectInPrefix = "comms.in."
	// SubjectResolvedPrefix prefixes every COMMS_RESOLVED subject.
	SubjectResolvedPrefix = "comms.resolved."
	// SubjectDeadLetterPrefix prefixes every COMMS_DLQ subject.
	SubjectDeadLetterPrefix = "comms.dlq."
)

// MaxClientContextLen is Graph's limit on clientContext, in characters.
const MaxClientContextLen = 256

// Key maps a clientContext to one subject-safe token that is also a valid
// JetStream KV key. A clientContext made only of ASCII letters, digits and '-'
// (GUIDs, the usual case), 1 to 64 long, is its own key, so keys stay readable.
// Anything else (dots, spaces, '*', '>', non-ASCII, long or empty strings) maps to
// "_" followed by the unpadded base64url SHA-256 of its UTF-8 bytes. '_' never
// starts a verbatim key, so two different clientContexts never share a key
// (up to SHA-256 collisions). The result never contains '.', '*', '>' or
// white space and so can never add a token to, or widen, a subject filter.
func Key(clientContext string) string { return keys.Key(clientContext) }

// ResolvedSubject returns "comms.resolved.<key>.<status>" for an operation
// ordered under key (from Key, or the
// ingest's operation key when it has no clientContext).
func ResolvedSubject(key string, status Status) string {
	return SubjectResolvedPrefix + key + "." + status.Token()
}

// resolvedFilter returns the COMMS_RESOLVED filter for one clientContext
// ("" for all) and one status ("" for all). The clientContext goes through Key,
// so no input can widen the filter.
func resolvedFilter(clientContext string, status Status) string {
	k, s := "*", "*"
	if clientContext != "" {
		k = Key(clientContext)
	}
	if status != "" {
		s = status.Token()
	}
	return SubjectResolvedPrefix + k + "." + s
}

// Partitions is the default number of COMMS_IN partitions: the most resolver
// workers that can share the input. A stream keeps the count it was created with.
const Partitions = 16
