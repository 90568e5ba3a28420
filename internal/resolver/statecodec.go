package resolver

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/commsops/commsops/pkg/events"
)

// The state is written on every commit, so it is encoded without reflection:
// marshalState writes byte for byte what json.Marshal writes for a KeyState
// (TestMarshalStateMatchesEncodingJSON compares them on random states, so a
// field added to the types without being added here fails that test). It is
// read back with encoding/json.

// marshalState returns the JSON of st, as json.Marshal would.
func marshalState(st *KeyState) ([]byte, error) {
	if len(st.Outbox) > 0 { // only states of earlier versions hold one
		b, err := json.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("resolver: encode state: %w", err)
		}
		return b, nil
	}
	b := make([]byte, 0, 256+512*len(st.Ops))
	b = append(b, `{"key":`...)
	b = appendJSONString(b, st.Key)
	b = append(b, `,"ops":`...)
	if st.Ops == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, op := range st.Ops {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendOpState(b, op); err != nil {
				return nil, fmt.Errorf("resolver: encode state: %w", err)
			}
		}
		b = append(b, ']')
	}
	if len(st.Applied) > 0 {
		b = append(b, `,"applied":[`...)
		for i, seq := range st.Applied {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, seq, 10)
		}
		b = append(b, ']')
	}
	if st.ResolvedSeq != 0 {
		b = append(b, `,"resolvedSeq":`...)
		b = strconv.AppendUint(b, st.ResolvedSeq, 10)
	}
	return append(b, '}'), nil
}

func unmarshalState(b []byte, st *KeyState) error { return json.Unmarshal(b, st) }

func appendOpState(b []byte, op *OpState) ([]byte, error) {
	if op == nil {
		return append(b, "null"...), nil
	}
	b = append(b, `{"slot":`...)
	b = appendJSONString(b, op.Slot)
	b = appendStringField(b, `,"id":`, op.ID)
	b = appendStringField(b, `,"callId":`, op.CallID)
	b = appendStringField(b, `,"clientContext":`, op.ClientContext)
	b = appendStringField(b, `,"odataType":`, op.ODataType)
	b = appendStringField(b, `,"status":`, string(op.Status))
	if len(op.Emitted) > 0 {
		b = append(b, `,"emitted":[`...)
		for i, s := range op.Emitted {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, string(s))
		}
		b = append(b, ']')
	}
	if ri := op.ResultInfo; ri != nil {
		b = append(b, `,"resultInfo":{"code":`...)
		b = strconv.AppendInt(b, int64(ri.Code), 10)
		b = append(b, `,"subcode":`...)
		b = strconv.AppendInt(b, int64(ri.Subcode), 10)
		b = appendStringField(b, `,"message":`, ri.Message)
		b = append(b, '}')
	}
	b = appendStringField(b, `,"completionReason":`, op.CompletionReason)
	if op.RaceDetected {
		b = append(b, `,"raceDetected":true`...)
	}
	b = append(b, `,"sources":`...)
	if op.Sources == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range op.Sources {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendSource(b, s)
		}
		b = append(b, ']')
	}
	if op.SourcesDropped != 0 {
		b = append(b, `,"sourcesDropped":`...)
		b = strconv.AppendInt(b, int64(op.SourcesDropped), 10)
	}
	b = append(b, `,"firstSeenAt":`...)
	b = appendJSONTime(b, op.FirstSeenAt)
	b = append(b, `,"lastNewsAt":`...)
	b = appendJSONTime(b, op.LastNewsAt)
	if op.NewsSeq != 0 {
		b = append(b, `,"newsSeq":`...)
		b = strconv.AppendUint(b, op.NewsSeq, 10)
	}
	if !op.StallDue.IsZero() {
		b = append(b, `,"stallDue":`...)
		b = appendJSONTime(b, op.StallDue)
	}
	if len(op.Extra) > 0 {
		b = append(b, `,"extra":`...)
		var err error
		if b, err = appendExtra(b, op.Extra); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendExtra appends the extra fields as encoding/json writes the map
// (sorted keys, values compacted with HTML characters escaped). Values that
// need compacting or escaping, and maps of more than one field, take
// encoding/json's path; the usual single "@odata.etag" does not.
func appendExtra(b []byte, extra map[string]json.RawMessage) ([]byte, error) {
	if len(extra) == 1 {
		for k, v := range extra {
			if asIs(v) {
				b = append(appendJSONString(append(b, '{'), k), ':')
				return append(append(b, v...), '}'), nil
			}
		}
	}
	all, err := json.Marshal(extra)
	if err != nil {
		return nil, err
	}
	return append(b, all...), nil
}

// asIs reports whether raw JSON is valid and already as encoding/json writes
// it: no white space, no HTML characters, no U+2028/U+2029 (their first
// byte, 0xE2, is refused whatever follows).
func asIs(v json.RawMessage) bool {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xE2:
			return false
		}
	}
	return json.Valid(v)
}

func appendSource(b []byte, s events.Source) []byte {
	b = append(b, `{"kind":`...)
	b = appendJSONString(b, string(s.Kind))
	b = append(b, `,"receivedAt":`...)
	b = appendJSONTime(b, s.ReceivedAt)
	if s.StreamSeq != 0 {
		b = append(b, `,"streamSeq":`...)
		b = strconv.AppendUint(b, s.StreamSeq, 10)
	}
	b = appendStringField(b, `,"status":`, string(s.Status))
	if s.Absorbed {
		b = append(b, `,"absorbed":true`...)
	}
	return append(b, '}')
}

// appendStringField appends an omitempty string member.
func appendStringField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return appendJSONString(append(b, name...), v)
}

// appendJSONTime appends t as time.Time.MarshalJSON writes it (RFC 3339 with
// nanoseconds, for the years 0 through 9999 that MarshalJSON accepts).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONString appends s quoted as encoding/json writes strings: HTML
// characters and U+2028/U+2029 escaped, \b \f \n \r \t short, other control
// characters as \u00XX, invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
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
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
