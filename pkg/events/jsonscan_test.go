package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The scanner must split valid JSON exactly as encoding/json decodes it into
// map[string]json.RawMessage and []json.RawMessage: these tests and fuzz
// targets compare the two on the same input.

var scanSeeds = []string{
	`{}`,
	` { "a" : 1 , "b" : [1, {"c":"]"}], "d":"\"}" } `,
	`{"a":1,"a":2,"b":null}`,
	`{"esc\u0061ped":"v","a\"b":{"x":[]}}`,
	"{\"bad\xffutf8\":true}",
	`{"n":-1.5e+3,"t":true,"f":false,"s":"\\","o":{"p":{"q":{}}}}`,
	`[]`,
	` [ 1 , "two" , {"three":3} , [4] , null , true ] `,
	`"not an object"`,
	`12`,
}

// decodeMembers is what encoding/json makes of an object: each name's last
// value, compacted (the scanner leaves inner white space alone).
func decodeMembers(t *testing.T, data []byte) (map[string]string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil || m == nil {
		return nil, false
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = compactJSON(t, v)
	}
	return out, true
}

func checkMembers(t *testing.T, data []byte) {
	want, isObj := decodeMembers(t, data)
	got := map[string]string{} // the last of each name, as a map keeps it
	for _, m := range appendMembers(nil, data) {
		got[string(m.name)] = compactJSON(t, m.value)
	}
	if !isObj {
		if len(got) != 0 {
			t.Fatalf("%q is not an object but yielded %v", data, got)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%q: scanner %v, encoding/json %v", data, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%q member %q: scanner %q, encoding/json %q", data, k, got[k], v)
		}
	}
}

func checkElements(t *testing.T, data []byte) {
	var want []json.RawMessage
	isArr := json.Unmarshal(data, &want) == nil && want != nil
	got := appendElements(nil, data)
	if !isArr {
		if len(got) != 0 {
			t.Fatalf("%q is not an array but yielded %q", data, got)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%q: scanner %d elements, encoding/json %d", data, len(got), len(want))
	}
	for i := range want {
		if g, w := compactJSON(t, got[i]), compactJSON(t, want[i]); g != w {
			t.Fatalf("%q element %d: scanner %q, encoding/json %q", data, i, g, w)
		}
	}
}

func TestScannerMatchesEncodingJSON(t *testing.T) {
	many := []byte(`{"k0":0`)
	for i := 1; i < 40; i++ { // past the quadratic dedupe's size
		many = append(many, `,"k`...)
		many = append(many, byte('0'+i%7))
		many = append(many, `":`...)
		many = append(many, byte('0'+i%10))
	}
	many = append(many, '}')
	for _, s := range append(scanSeeds, string(many)) {
		t.Run(s, func(t *testing.T) {
			checkMembers(t, []byte(s))
			checkElements(t, []byte(s))
			if json.Valid([]byte(s)) {
				if got, want := string(appendCompact(nil, []byte(s))), compactJSON(t, []byte(s)); got != want {
					t.Fatalf("appendCompact = %q, json.Compact %q", got, want)
				}
			}
		})
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	for _, b := range testdataPayloads(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // the scanner is only ever given checked JSON
		}
		checkMembers(t, data)
		checkElements(t, data)
		if got, want := string(appendCompact([]byte("x"), data)), "x"+compactJSON(t, data); got != want {
			t.Fatalf("appendCompact(%q) = %q, json.Compact %q", data, got, want)
		}
	})
}

// FuzzActionResponseEnvelope compares the envelope decoder of
// ParseActionResponse with encoding/json decoding into ActionResponse.
func FuzzActionResponseEnvelope(f *testing.F) {
	for _, b := range testdataPayloads(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"CALLID":"c","callId":"d","Action":null,"httpStatus":2e2}`))
	f.Add([]byte(`{"httpStatus":"200"}`))
	f.Add([]byte(`{"httpStatus":200,"httpStatus":true}`))
	f.Add([]byte(`{"sentAt":"2026-01-02T03:04:05Z","operation":{"id":1},"ſentAt":null}`))
	f.Add([]byte(`{"sentAt":"yesterday"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) || !isObject(data) {
			return // ParseActionResponse refuses both before decoding
		}
		var want, got ActionResponse
		wantErr := json.Unmarshal(data, &want)
		gotErr := decodeActionResponse(data, &got)
		if checkDuplicate(t, data, gotErr, envelopeFields[:]) {
			return
		}
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%q: encoding/json %v, scanner %v", data, wantErr, gotErr)
		}
		if wantErr != nil {
			return
		}
		if got.CallID != want.CallID || got.Action != want.Action || got.ClientContext != want.ClientContext ||
			got.HTTPStatus != want.HTTPStatus || !got.SentAt.Equal(want.SentAt) ||
			(want.Operation == nil) != (got.Operation == nil) ||
			(want.Operation != nil && compactJSON(t, got.Operation) != compactJSON(t, want.Operation)) {
			t.Fatalf("%q: scanner %+v, encoding/json %+v", data, got, want)
		}
	})
}

// FuzzResultInfo compares ResultInfo.UnmarshalJSON with what encoding/json
// makes of the same bytes through the struct the parser used to decode into
// (raw code and subcode, message as *string), on a receiver that is not zero.
func FuzzResultInfo(f *testing.F) {
	for _, s := range []string{`{"code":200,"subcode":"8510","message":"ok"}`, `{"code":{},"code":1}`, `{"code":"x","code":1}`,
		`{"message":"a","message":null}`, `{"message":1,"message":"a"}`, `null`, `{}`, `{"CODE":"404","Message":"m"}`, `[]`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		start := ResultInfo{Code: 7, Subcode: 8, Message: "before"}
		got := start
		gotErr := got.UnmarshalJSON(data)
		if checkDuplicate(t, data, gotErr, resultInfoFields[:]) {
			return
		}

		want := start
		var raw struct {
			Code    json.RawMessage `json:"code"`
			Subcode json.RawMessage `json:"subcode"`
			Message *string         `json:"message"`
		}
		wantErr := json.Unmarshal(data, &raw)
		if wantErr == nil && !isNull(data) {
			var err error
			if want.Code, err = looseInt(raw.Code); err != nil {
				wantErr = err
			} else if want.Subcode, err = looseInt(raw.Subcode); err != nil {
				wantErr = err
			} else if raw.Message != nil {
				want.Message = *raw.Message
			}
		}
		if (gotErr == nil) != (wantErr == nil) || (gotErr == nil && got != want) {
			t.Fatalf("%q: got %+v (%v), encoding/json %+v (%v)", data, got, gotErr, want, wantErr)
		}
	})
}

// checkDuplicate reports whether err is ErrDuplicateMember, and then fails
// the test unless encoding/json's tokenizer finds two top-level members of
// data naming one of fields in any casing (and no other error is due).
func checkDuplicate(t *testing.T, data []byte, err error, fields []string) bool {
	t.Helper()
	want := hasFoldDuplicate(t, data, fields)
	got := errors.Is(err, ErrDuplicateMember)
	if want && err == nil {
		t.Fatalf("%q names a field twice and was accepted", data)
	}
	if got && !want {
		t.Fatalf("%q: %v, but no field is named twice", data, err)
	}
	return got
}

// hasFoldDuplicate reports whether the JSON object data has two members
// whose names both equal one of fields under Unicode case folding.
func hasFoldDuplicate(t *testing.T, data []byte, fields []string) bool {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		name := tok.(string)
		for _, f := range fields {
			if strings.EqualFold(name, f) {
				if seen[f] {
					return true
				}
				seen[f] = true
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
	}
	return false
}
