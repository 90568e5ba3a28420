// Package subjects builds and parses the COMMS_IN and COMMS_DLQ subjects and
// the resolved-event attributes that only the pipeline's own services use:
// the partition transform, stored-subject parsing, consumer filters and
// dead-letter subjects. pkg/events keeps the names a subscriber needs; its
// tests check that the prefixes here equal its public constants.
package subjects

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/commsops/commsops/internal/evterr"
)

// Prefixes of the contract, equal to pkg/events's SubjectInPrefix,
// SubjectDeadLetterPrefix, SubjectResolvedPrefix and TypeResolvedPrefix.
const (
	InPrefix           = "comms.in."
	DeadLetterPrefix   = "comms.dlq."
	ResolvedPrefix     = "comms.resolved."
	ResolvedTypePrefix = "io.commsops.operation."
)

// InFilter returns the filter that selects ingested events of one kind (an
// graphwire.Kind) in one partition as stored, or in all partitions when
// partition < 0.
func InFilter(partition int, kind string) string {
	p := "*"
	if partition >= 0 {
		p = fmt.Sprint(partition)
	}
	return InPrefix + p + "." + kind + ".*"
}

// StoredIn is what a stored COMMS_IN subject says.
type StoredIn struct {
	Partition int
	Kind      string // an graphwire.Kind
	Key       string
}

// ParseStoredIn reads "comms.in.<partition>.<kind>.<key>". It returns an
// error wrapping evterr.ErrInvalidPayload (events.ErrInvalidPayload) for
// anything else.
func ParseStoredIn(subject string) (StoredIn, error) {
	var s StoredIn
	rest, ok := strings.CutPrefix(subject, InPrefix)
	if !ok {
		return s, fmt.Errorf("%w: subject %q is not under %s", evterr.ErrInvalidPayload, subject, InPrefix)
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return s, fmt.Errorf("%w: subject %q is not comms.in.<partition>.<kind>.<key>", evterr.ErrInvalidPayload, subject)
	}
	// Sscanf("%d") would take "1x" or "+1": the partition is digits only.
	p, err := strconv.Atoi(parts[0])
	if err != nil || p < 0 || strings.TrimLeft(parts[0], "0123456789") != "" {
		return s, fmt.Errorf("%w: subject %q has no partition number", evterr.ErrInvalidPayload, subject)
	}
	if parts[1] == "" || parts[2] == "" {
		return s, fmt.Errorf("%w: subject %q has an empty kind or key", evterr.ErrInvalidPayload, subject)
	}
	s.Partition, s.Kind, s.Key = p, parts[1], parts[2]
	return s, nil
}

// DeadLetter returns "comms.dlq.<stream>.<key>" for a message of key taken
// from stream.
func DeadLetter(stream, key string) string {
	return DeadLetterPrefix + stream + "." + key
}

// InTransform returns the COMMS_IN subject transform that spreads keys over n
// partitions: "comms.in.*.*" → "comms.in.{{partition(n,2)}}.{{wildcard(1)}}.{{wildcard(2)}}".
// Every event of one key lands in one partition.
func InTransform(n int) (source, destination string) {
	return InPrefix + "*.*", fmt.Sprintf("%s{{partition(%d,2)}}.{{wildcard(1)}}.{{wildcard(2)}}", InPrefix, n)
}

// ResolvedSource returns the CloudEvents source of a resolved event:
// "/communications/calls/<callId>", the call id path-escaped so that any id
// makes a valid URI reference.
func ResolvedSource(callID string) string { return "/communications/calls/" + url.PathEscape(callID) }

// ResolvedType returns the CloudEvents type of a resolved event of status
// (an events.Status): "io.commsops.operation.<status, lower-case>", the
// status's token as events.Status.Token writes it.
func ResolvedType(status string) string { return ResolvedTypePrefix + strings.ToLower(status) }

// ResolvedStatusFilter returns the COMMS_RESOLVED filter of every key's events
// of one status ("comms.resolved.*.<status, lower-case>"), or of every event
// when status is "".
func ResolvedStatusFilter(status string) string {
	if status == "" {
		return ResolvedPrefix + "*.*"
	}
	return ResolvedPrefix + "*." + strings.ToLower(status)
}
