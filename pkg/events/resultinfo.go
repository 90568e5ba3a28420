package events

import "github.com/commsops/commsops/internal/graphwire"

// ResultInfo is Graph's resultInfo: code (2xx success, 4xx client error, 5xx
// server error), subcode and message. Numbers sent as strings are accepted.
type ResultInfo struct {
	Code    int    `json:"code"`
	Subcode int    `json:"subcode"`
	Message string `json:"message,omitempty"`
}

// UnmarshalJSON accepts code and subcode as numbers or numeric strings and
// ignores @odata.type and unknown fields. Field names match in any casing, as
// encoding/json matches them. null leaves r as it is.
func (r *ResultInfo) UnmarshalJSON(b []byte) error {
	return (*graphwire.ResultInfo)(r).UnmarshalJSON(b)
}
