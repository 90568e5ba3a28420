package graphsim

import (
	"encoding/json"
	"time"
)

// ResultInfo is Graph's resultInfo as the simulator sends it.
type ResultInfo struct {
	Code    int    `json:"code"`
	Subcode int    `json:"subcode"`
	Message string `json:"message"`
}

// CallTruth is what really happened to a call: its operations as the
// simulator ran them and every callback delivery attempt. It is the body of
// GET /graphsim/v1/calls/{id}.
type CallTruth struct {
	CallID      string           `json:"callId"`
	State       string           `json:"state"`
	CallbackURI string           `json:"callbackUri"`
	Faults      string           `json:"faults"`
	Operations  []OperationTruth `json:"operations"`
	Deliveries  []Delivery       `json:"deliveries"`
}

// OperationTruth is one operation: the statuses it went through in order
// (the first is the one its action response carried), its final status and
// resultInfo (empty and null while it runs), and the operation-wide faults
// drawn for it.
type OperationTruth struct {
	ID            string      `json:"id"`
	ClientContext string      `json:"clientContext"`
	ODataType     string      `json:"odataType"`
	Action        string      `json:"action"`
	Statuses      []string    `json:"statuses"`
	Final         string      `json:"final"`
	ResultInfo    *ResultInfo `json:"resultInfo"`
	Faults        []string    `json:"faults"`
	// RespondedAt is when the action's HTTP response was written.
	RespondedAt time.Time `json:"respondedAt,omitzero"`
	// FinalDelivered reports whether a callback carrying the final status
	// was answered 2xx.
	FinalDelivered bool `json:"finalDelivered"`
}

// Delivery is one attempt to deliver a callback. Status is the HTTP status
// it was answered with, 0 when it was not answered (Error says why);
// Outcome is "delivered" (2xx), "retry" (another attempt follows) or
// "gaveUp" (the last attempt failed).
type Delivery struct {
	At           time.Time `json:"at"`
	Status       int       `json:"status"`
	Attempt      int       `json:"attempt"`
	Faults       []string  `json:"faults"`
	Outcome      string    `json:"outcome"`
	MessageID    string    `json:"messageId"`
	Kid          string    `json:"kid"`
	OperationIDs []string  `json:"operationIds,omitempty"`
	// Statuses are the statuses (operation status or call state) the
	// callback carried, in order.
	Statuses []string `json:"statuses"`
	Error    string   `json:"error,omitempty"`
	// Body is the callback as sent.
	Body json.RawMessage `json:"body"`
}

// Delivery outcomes.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetry     = "retry"
	OutcomeGaveUp    = "gaveUp"
)
