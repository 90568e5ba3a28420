package events

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/commsops/commsops/internal/jsonx"
)

// The resolver writes a resolved event and a state on every message, so their
// JSON is appended without reflection, byte for byte what json.Marshal writes
// (the tests compare the two on random values).

// AppendJSON appends the source as json.Marshal writes it and returns the
// extended slice, or jsonx.AppendTime's error.
func (s Source) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"kind":`...)
	b = jsonx.AppendString(b, string(s.Kind))
	b = append(b, `,"receivedAt":`...)
	b, err := jsonx.AppendTime(b, s.ReceivedAt)
	if err != nil {
		return nil, err
	}
	if s.StreamSeq != 0 {
		b = append(b, `,"streamSeq":`...)
		b = strconv.AppendUint(b, s.StreamSeq, 10)
	}
	if s.Status != "" {
		b = append(b, `,"status":`...)
		b = jsonx.AppendString(b, string(s.Status))
	}
	if s.Absorbed {
		b = append(b, `,"absorbed":true`...)
	}
	return append(b, '}'), nil
}

// AppendJSON appends the result info as json.Marshal writes it and returns the
// extended slice.
func (r ResultInfo) AppendJSON(b []byte) []byte {
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(r.Code), 10)
	b = append(b, `,"subcode":`...)
	b = strconv.AppendInt(b, int64(r.Subcode), 10)
	if r.Message != "" {
		b = append(b, `,"message":`...)
		b = jsonx.AppendString(b, r.Message)
	}
	return append(b, '}')
}

// appendSources appends sources as json.Marshal writes a []Source and
// returns the extended slice, or jsonx.AppendTime's error.
func appendSources(b []byte, sources []Source) ([]byte, error) {
	if sources == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i, s := range sources {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = s.AppendJSON(b); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// AppendJSON appends what json.Marshal(r) writes and returns the extended
// slice. It returns ErrInvalidPayload when an Extra value is not valid JSON or
// a time cannot be written (see jsonx.AppendTime).
func (r ResolvedOperation) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"clientContext":`...)
	b = jsonx.AppendString(b, r.ClientContext)
	b = append(b, `,"callId":`...)
	b = jsonx.AppendString(b, r.CallID)
	b = append(b, `,"operationId":`...)
	b = jsonx.AppendString(b, r.OperationID)
	b = append(b, `,"odataType":`...)
	b = jsonx.AppendString(b, r.ODataType)
	b = append(b, `,"status":`...)
	b = jsonx.AppendString(b, string(r.Status))
	if r.ResultInfo != nil {
		b = append(b, `,"resultInfo":`...)
		b = r.ResultInfo.AppendJSON(b)
	}
	if r.CompletionReason != "" {
		b = append(b, `,"completionReason":`...)
		b = jsonx.AppendString(b, r.CompletionReason)
	}
	if r.RaceDetected {
		b = append(b, `,"raceDetected":true`...)
	} else {
		b = append(b, `,"raceDetected":false`...)
	}
	var err error
	if b, err = appendSources(append(b, `,"sources":`...), r.Sources); err != nil {
		return nil, err
	}
	if b, err = jsonx.AppendTime(append(b, `,"firstSeenAt":`...), r.FirstSeenAt); err != nil {
		return nil, err
	}
	if b, err = jsonx.AppendTime(append(b, `,"resolvedAt":`...), r.ResolvedAt); err != nil {
		return nil, err
	}
	var (
		stack [8]string
		names = stack[:0]
	)
	for k := range r.Extra {
		if !isResolvedField(k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		var err error
		b = jsonx.AppendString(append(b, ','), k)
		if b, err = jsonx.AppendRaw(append(b, ':'), r.Extra[k]); err != nil {
			return nil, fmt.Errorf("extra field %q: %w", k, err)
		}
	}
	return append(b, '}'), nil
}
