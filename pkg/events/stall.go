package events

import (
	"crypto/sha256"
	"encoding/hex"
)

// TypeStallCheck is the CloudEvents type of the resolver's stall checks: a
// message it schedules in COMMS_IN (JetStream message schedules) for the time
// an open operation would count as stalled. When it fires it lands on the
// operation's key subject, in order with the key's other evidence, so it
// survives the worker that scheduled it and replays like any input.
const TypeStallCheck = "io.commsops.resolver.stallcheck"

// Extension attributes of a stall check.
const (
	ExtSlot    = "opslot"  // the operation's slot within its key
	ExtNewsSeq = "newsseq" // stream sequence of the operation's latest evidence when scheduled
)

// StallScheduleSubject returns the COMMS_IN subject holding the pending stall
// schedule of one operation: "comms.in.sched.stall.<key>.<slot hash>". Six
// tokens, so no ingested-event filter (five tokens) ever matches it; a newer
// schedule on the same subject replaces the older one.
func StallScheduleSubject(key, slot string) string {
	h := sha256.Sum256([]byte(slot))
	return SubjectInPrefix + "sched.stall." + key + "." + hex.EncodeToString(h[:8])
}
