package events

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The resolver writes a resolved event and a state on every message, so their
// JSON is appended without reflection, byte for byte what json.Marshal writes
// (the tests compare the two on random values).

// AppendJSONString appends s as json.Marshal writes a string: quoted, with
// HTML characters and U+2028/U+2029 escaped, \b \f \n \r \t short, other
// control characters as \u00XX and invalid UTF-8 as \ufffd. It returns the
// extended slice.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendJSONTime appends t as time.Time's MarshalJSON writes it (RFC 3339
// with nanoseconds, quoted) and returns the extended slice. Like MarshalJSON,
// it returns an error (ErrInvalidPayload) for a year outside 0 through 9999
// or a zone offset of a day or more, which RFC 3339 cannot write.
func AppendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("%w: time %v: year outside of range [0,9999]", ErrInvalidPayload, t)
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return nil, fmt.Errorf("%w: time %v: zone offset of a day or more", ErrInvalidPayload, t)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// AppendJSON appends the source as json.Marshal writes it and returns the
// extended slice, or AppendJSONTime's error.
func (s Source) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"kind":`...)
	b = AppendJSONString(b, string(s.Kind))
	b = append(b, `,"receivedAt":`...)
	b, err := AppendJSONTime(b, s.ReceivedAt)
	if err != nil {
		return nil, err
	}
	if s.StreamSeq != 0 {
		b = append(b, `,"streamSeq":`...)
		b = strconv.AppendUint(b, s.StreamSeq, 10)
	}
	if s.Status != "" {
		b = append(b, `,"status":`...)
		b = AppendJSONString(b, string(s.Status))
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
		b = AppendJSONString(b, r.Message)
	}
	return append(b, '}')
}

// AppendSources appends sources as json.Marshal writes a []Source and
// returns the extended slice, or AppendJSONTime's error.
func AppendSources(b []byte, sources []Source) ([]byte, error) {
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
// a time cannot be written (see AppendJSONTime).
func (r ResolvedOperation) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"clientContext":`...)
	b = AppendJSONString(b, r.ClientContext)
	b = append(b, `,"callId":`...)
	b = AppendJSONString(b, r.CallID)
	b = append(b, `,"operationId":`...)
	b = AppendJSONString(b, r.OperationID)
	b = append(b, `,"odataType":`...)
	b = AppendJSONString(b, r.ODataType)
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, string(r.Status))
	if r.ResultInfo != nil {
		b = append(b, `,"resultInfo":`...)
		b = r.ResultInfo.AppendJSON(b)
	}
	if r.CompletionReason != "" {
		b = append(b, `,"completionReason":`...)
		b = AppendJSONString(b, r.CompletionReason)
	}
	if r.RaceDetected {
		b = append(b, `,"raceDetected":true`...)
	} else {
		b = append(b, `,"raceDetected":false`...)
	}
	var err error
	if b, err = AppendSources(append(b, `,"sources":`...), r.Sources); err != nil {
		return nil, err
	}
	if b, err = AppendJSONTime(append(b, `,"firstSeenAt":`...), r.FirstSeenAt); err != nil {
		return nil, err
	}
	if b, err = AppendJSONTime(append(b, `,"resolvedAt":`...), r.ResolvedAt); err != nil {
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
		b = AppendJSONString(append(b, ','), k)
		if b, err = AppendRawJSON(append(b, ':'), r.Extra[k]); err != nil {
			return nil, fmt.Errorf("extra field %q: %w", k, err)
		}
	}
	return append(b, '}'), nil
}

// AppendRawJSON appends raw JSON as json.Marshal writes a json.RawMessage
// (compacted, HTML characters escaped) and returns the extended slice, or
// ErrInvalidPayload when v is not valid JSON.
func AppendRawJSON(b []byte, v json.RawMessage) ([]byte, error) {
	if rawAsIs(v) {
		return append(b, v...), nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrInvalidPayload, err)
	}
	return append(b, out...), nil
}

// rawAsIs reports whether v is valid JSON already as json.Marshal writes it:
// no white space, no HTML characters, no U+2028/U+2029 (their first byte,
// 0xE2, is refused whatever follows).
func rawAsIs(v []byte) bool {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xE2:
			return false
		}
	}
	return json.Valid(v)
}
