// Package stallcheck names the resolver's stall checks: messages it schedules
// in COMMS_IN (JetStream message schedules) for the time an open operation
// would count as stalled. When one fires it lands on the operation's key
// subject, in order with the key's other evidence, so it survives the worker
// that scheduled it and replays like any input.
package stallcheck

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/commsops/commsops/internal/subjects"
)

// Type is the CloudEvents type of a stall check.
const Type = "io.commsops.resolver.stallcheck"

// Extension attributes of a stall check. pkg/events's Operations also reads
// ExtSlot from a resolved event, when present, to tell operations apart.
const (
	ExtSlot    = "opslot"  // the operation's slot within its key
	ExtNewsSeq = "newsseq" // stream sequence of the operation's latest evidence when scheduled
)

// ScheduleSubject returns the COMMS_IN subject holding the pending stall
// schedule of one operation: "comms.in.sched.stall.<key>.<slot hash>". Six
// tokens, so no ingested-event filter (five tokens) ever matches it; a newer
// schedule on the same subject replaces the older one.
func ScheduleSubject(key, slot string) string {
	h := sha256.Sum256([]byte(slot))
	return subjects.InPrefix + "sched.stall." + key + "." + hex.EncodeToString(h[:8])
}
