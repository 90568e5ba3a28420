package resolver

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/commsops/commsops/internal/jsonx"
	"github.com/commsops/commsops/pkg/events"
)

// The state is written on every commit, so it is encoded without reflection:
// marshalState writes byte for byte what json.Marshal writes for a KeyState
// (TestMarshalStateMatchesEncodingJSON compares them on random states, so a
// field added to the types without being added here fails that test). It is
// read back with encoding/json.

// marshalState returns the JSON of st, as json.Marshal would.
func marshalState(st *KeyState) ([]byte, error) {
	b := make([]byte, 0, encodedSize(st))
	b = append(b, `{"key":`...)
	b = jsonx.AppendString(b, st.Key)
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

// encodedSize returns a little over what marshalState writes for st in
// practice, so that its buffer is rarely grown and copied.
func encodedSize(st *KeyState) int {
	n := 96 + len(st.Key) + 12*len(st.Applied)
	for _, op := range st.Ops {
		if op != nil {
			n += op.encodedSize()
		}
	}
	return n
}

// encodedSize returns a little over what an operation's JSON takes in
// practice, in the state or as a resolved event's data: a source about 90
// bytes, the other fields about 400.
func (op *OpState) encodedSize() int {
	n := 450 + 100*len(op.Sources)
	for k, v := range op.Extra {
		n += len(k) + len(v) + 4
	}
	return n
}

func unmarshalState(b []byte, st *KeyState) error { return json.Unmarshal(b, st) }

func appendOpState(b []byte, op *OpState) ([]byte, error) {
	if op == nil {
		return append(b, "null"...), nil
	}
	b = append(b, `{"slot":`...)
	b = jsonx.AppendString(b, op.Slot)
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
			b = jsonx.AppendString(b, string(s))
		}
		b = append(b, ']')
	}
	if op.ResultInfo != nil {
		b = op.ResultInfo.AppendJSON(append(b, `,"resultInfo":`...))
	}
	b = appendStringField(b, `,"completionReason":`, op.CompletionReason)
	if op.RaceDetected {
		b = append(b, `,"raceDetected":true`...)
	}
	var err error
	if b, err = appendSources(append(b, `,"sources":`...), op.Sources); err != nil {
		return nil, err
	}
	if op.SourcesDropped != 0 {
		b = append(b, `,"sourcesDropped":`...)
		b = strconv.AppendInt(b, int64(op.SourcesDropped), 10)
	}
	if b, err = jsonx.AppendTime(append(b, `,"firstSeenAt":`...), op.FirstSeenAt); err != nil {
		return nil, err
	}
	if b, err = jsonx.AppendTime(append(b, `,"lastNewsAt":`...), op.LastNewsAt); err != nil {
		return nil, err
	}
	if op.NewsSeq != 0 {
		b = append(b, `,"newsSeq":`...)
		b = strconv.AppendUint(b, op.NewsSeq, 10)
	}
	if !op.StallDue.IsZero() {
		if b, err = jsonx.AppendTime(append(b, `,"stallDue":`...), op.StallDue); err != nil {
			return nil, err
		}
	}
	if len(op.Extra) > 0 {
		if b, err = appendExtra(append(b, `,"extra":`...), op.Extra); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendExtra appends the extra fields as encoding/json writes the map:
// keys sorted, values compacted with HTML characters escaped.
func appendExtra(b []byte, extra map[string]json.RawMessage) ([]byte, error) {
	var (
		stack [8]string
		keys  = stack[:0]
	)
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		b = append(jsonx.AppendString(b, k), ':')
		if b, err = jsonx.AppendRaw(b, extra[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendStringField appends an omitempty string member.
func appendStringField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return jsonx.AppendString(append(b, name...), v)
}

// appendSources appends sources as json.Marshal writes a []events.Source and
// returns the extended slice, or jsonx.AppendTime's error.
func appendSources(b []byte, sources []events.Source) ([]byte, error) {
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
