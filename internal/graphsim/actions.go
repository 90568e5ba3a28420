package graphsim

import "strings"

// actionSpec is how Graph answers one action that returns a commsOperation.
type actionSpec struct {
	// odataType is the operation's @odata.type.
	odataType string
	// responseStatus is the status the action response carries (Graph
	// answers invite with "Running").
	responseStatus string
	// media operations are ended, failed, by cancelMediaProcessing.
	media bool
	// cancels marks cancelMediaProcessing.
	cancels bool
	// finalExtra are fields the final status adds to resourceData.
	finalExtra map[string]any
}

// actions maps the lower-cased action path (after /calls/{id}/, with a
// participant id replaced by "{pid}") to its spec.
var actions = map[string]actionSpec{
	"playprompt": {odataType: "#microsoft.graph.playPromptOperation", responseStatus: "running", media: true},
	"recordresponse": {odataType: "#microsoft.graph.recordOperation", responseStatus: "running", media: true, finalExtra: map[string]any{
		"recordingLocation":    "https://graphsim.invalid/recordings/recording.wav",
		"recordingAccessToken": "graphsim-recording-token",
		"completionReason":     "stopToneDetected",
	}},
	"subscribetotone":         {odataType: "#microsoft.graph.subscribeToToneOperation", responseStatus: "running"},
	"mute":                    {odataType: "#microsoft.graph.muteParticipantOperation", responseStatus: "running"},
	"unmute":                  {odataType: "#microsoft.graph.unmuteParticipantOperation", responseStatus: "running"},
	"updaterecordingstatus":   {odataType: "#microsoft.graph.updateRecordingStatusOperation", responseStatus: "running"},
	"cancelmediaprocessing":   {odataType: "#microsoft.graph.cancelMediaProcessingOperation", responseStatus: "running", cancels: true},
	"startholdmusic":          {odataType: "#microsoft.graph.startHoldMusicOperation", responseStatus: "running"},
	"stopholdmusic":           {odataType: "#microsoft.graph.stopHoldMusicOperation", responseStatus: "running"},
	"senddtmftones":           {odataType: "#microsoft.graph.sendDtmfTonesOperation", responseStatus: "running"},
	"participants/invite":     {odataType: "#microsoft.graph.inviteParticipantsOperation", responseStatus: "Running"},
	"participants/{pid}/mute": {odataType: "#microsoft.graph.muteParticipantOperation", responseStatus: "running"},
}

// lookupAction returns the spec of an action path and its canonical name.
func lookupAction(path string) (actionSpec, bool) {
	spec, ok := actions[strings.ToLower(path)]
	return spec, ok
}

// Results of finished operations.
var (
	resultCompleted = ResultInfo{Code: 200, Subcode: 0, Message: "Action completed successfully."}
	resultCancelled = ResultInfo{Code: 400, Subcode: 8508, Message: "Action failed, the operation was cancelled."}
)
