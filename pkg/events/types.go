package events

// CloudEvents types of ingested events (COMMS_IN) and resolved events
// (COMMS_RESOLVED).
const (
	// TypeOperationNotification: one operation resource from a Graph callback.
	// data: the commsNotification item, with resourceData narrowed to this one resource.
	TypeOperationNotification = "io.commsops.graph.notification.operation"
	// TypeCallNotification: one call resource (state, toneInfo) from a callback.
	TypeCallNotification = "io.commsops.graph.notification.call"
	// TypeParticipantNotification: one participant resource (roster, isMuted).
	TypeParticipantNotification = "io.commsops.graph.notification.participant"
	// TypeOtherNotification: any other resource of a callback.
	TypeOtherNotification = "io.commsops.graph.notification.other"
	// TypeActionResponse: an action-response envelope posted by a bot.
	TypeActionResponse = "io.commsops.bot.response"

	// TypeResolvedPrefix prefixes resolved event types: TypeResolvedPrefix + status token.
	TypeResolvedPrefix = "io.commsops.operation."

	// ContentTypeJSON is the content type of every commsops event's data.
	ContentTypeJSON = "application/json"
)

// CloudEvents extension attributes set by ingest on COMMS_IN events. Names are
// lower-case alphanumerics as the CloudEvents spec requires.
const (
	ExtCallID        = "callid"         // normalised call id
	ExtOperationID   = "operationid"    // normalised operation id, when known
	ExtClientContext = "clientcontext"  // the operation's clientContext, when known
	ExtChangeType    = "changetype"     // the notification's changeType, lower-case
	ExtMessageID     = "graphmessageid" // X-Microsoft-Skype-Message-ID of the delivery
	ExtItemIndex     = "itemindex"      // position of the resource in its callback
	ExtTraceParent   = "traceparent"    // W3C trace context (distributed tracing extension)
)
