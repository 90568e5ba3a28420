package events

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

// Kind is the second token of an ingested subject: what the event is about.
type Kind string

// The kinds of ingested events.
const (
	// KindOperation: evidence about a commsOperation, a notification or an
	// action response. The resolver consumes only these.
	KindOperation Kind = "op"
	// KindCall: a call resource notification (state, tones).
	KindCall Kind = "call"
	// KindParticipant: a participant resource notification (roster, mute).
	KindParticipant Kind = "participant"
	// KindOther: any other resource; stored, never dropped.
	KindOther Kind = "other"
)

// InSubject returns the subject an ingested event is published to:
// "comms.in.<kind>.<key>". COMMS_IN's subject transform stores it as
// "comms.in.<partition>.<kind>.<key>"; key must come from Key or, for
// evidence without a clientContext, the ingest's operation or call key.
func InSubject(kind Kind, key string) string {
	return SubjectInPrefix + string(kind) + "." + key
}

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
