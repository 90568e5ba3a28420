package inbound

import (
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/jsonx"
	"github.com/commsops/commsops/internal/subjects"
)

// Names of the contract that the events made here carry. Each equals the
// pkg/events constant of the same name (its tests check that), which is
// what readers use; this package cannot import pkg/events.
const (
	StreamIn = "COMMS_IN"

	TypeOperationNotification   = "io.commsops.graph.notification.operation"
	TypeCallNotification        = "io.commsops.graph.notification.call"
	TypeParticipantNotification = "io.commsops.graph.notification.participant"
	TypeOtherNotification       = "io.commsops.graph.notification.other"
	TypeActionResponse          = "io.commsops.bot.response"
	ContentTypeJSON             = "application/json"

	ExtCallID        = "callid"
	ExtOperationID   = "operationid"
	ExtClientContext = "clientcontext"
	ExtChangeType    = "changetype"
	ExtMessageID     = "graphmessageid"
	ExtItemIndex     = "itemindex"
	ExtTraceParent   = "traceparent"
)

// InSubject returns the subject an ingested event is published to:
// "comms.in.<kind>.<key>". COMMS_IN's subject transform stores it as
// "comms.in.<partition>.<kind>.<key>"; key must come from keys.Key or, for
// evidence without a clientContext, keys.OperationKey or keys.CallKey.
func InSubject(kind graphwire.Kind, key string) string {
	return subjects.InPrefix + string(kind) + "." + key
}

// quoteShort returns b quoted for an error message, cut after
// jsonx.ShortLen bytes (see jsonx.QuoteShort).
func quoteShort[T ~string | ~[]byte](b T) string { return jsonx.QuoteShort(b) }
