package events

import (
	"fmt"
	"strconv"
	"strings"
)

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
// "comms.in.<partition>.<kind>.<key>"; key must come from Key, OperationKey or
// CallKey.
func InSubject(kind Kind, key string) string {
	return SubjectInPrefix + string(kind) + "." + key
}

// InFilter returns the filter that selects ingested events of one kind in one
// partition as stored, or in all partitions when partition < 0.
func InFilter(partition int, kind Kind) string {
	p := "*"
	if partition >= 0 {
		p = fmt.Sprint(partition)
	}
	return SubjectInPrefix + p + "." + string(kind) + ".*"
}

// StoredIn is what a stored COMMS_IN subject says.
type StoredIn struct {
	Partition int
	Kind      Kind
	Key       string
}

// ParseStoredInSubject reads "comms.in.<partition>.<kind>.<key>". It returns an
// error wrapping ErrInvalidPayload for anything else.
func ParseStoredInSubject(subject string) (StoredIn, error) {
	var s StoredIn
	rest, ok := strings.CutPrefix(subject, SubjectInPrefix)
	if !ok {
		return s, fmt.Errorf("%w: subject %q is not under %s", ErrInvalidPayload, subject, SubjectInPrefix)
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return s, fmt.Errorf("%w: subject %q is not comms.in.<partition>.<kind>.<key>", ErrInvalidPayload, subject)
	}
	// Sscanf("%d") would take "1x" or "+1": the partition is digits only.
	p, err := strconv.Atoi(parts[0])
	if err != nil || p < 0 || strings.TrimLeft(parts[0], "0123456789") != "" {
		return s, fmt.Errorf("%w: subject %q has no partition number", ErrInvalidPayload, subject)
	}
	if parts[1] == "" || parts[2] == "" {
		return s, fmt.Errorf("%w: subject %q has an empty kind or key", ErrInvalidPayload, subject)
	}
	s.Partition, s.Kind, s.Key = p, Kind(parts[1]), parts[2]
	return s, nil
}

// ResolvedSubject returns "comms.resolved.<key>.<status>" for an operation
// ordered under key (from Key or OperationKey).
func ResolvedSubject(key string, status Status) string {
	return SubjectResolvedPrefix + key + "." + status.Token()
}

// ResolvedFilter returns the COMMS_RESOLVED filter for one clientContext
// ("" for all) and one status ("" for all). The clientContext goes through Key,
// so no input can widen the filter.
func ResolvedFilter(clientContext string, status Status) string {
	k, s := "*", "*"
	if clientContext != "" {
		k = Key(clientContext)
	}
	if status != "" {
		s = status.Token()
	}
	return SubjectResolvedPrefix + k + "." + s
}

// DeadLetterSubject returns "comms.dlq.<stream>.<key>" for a message of key taken
// from stream.
func DeadLetterSubject(stream, key string) string {
	return SubjectDeadLetterPrefix + stream + "." + key
}

// Partitions is the default number of COMMS_IN partitions: the most resolver
// workers that can share the input. A stream keeps the count it was created with.
const Partitions = 16

// InTransform returns the COMMS_IN subject transform that spreads keys over n
// partitions: "comms.in.*.*" → "comms.in.{{partition(n,2)}}.{{wildcard(1)}}.{{wildcard(2)}}".
// Every event of one key lands in one partition.
func InTransform(n int) (source, destination string) {
	return SubjectInPrefix + "*.*", fmt.Sprintf("%s{{partition(%d,2)}}.{{wildcard(1)}}.{{wildcard(2)}}", SubjectInPrefix, n)
}
