package graphwire

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
