package graphwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphwire/graphtest"
)

// FuzzActionResponseEnvelope compares the envelope decoder of
// ParseActionResponse with encoding/json decoding into ActionResponse.
func FuzzActionResponseEnvelope(f *testing.F) {
	for _, b := range graphtest.Payloads(f) {
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

// checkDuplicate reports whether err is evterr.ErrDuplicateMember, and then fails
// the test unless encoding/json's tokenizer finds two top-level members of
// data naming one of fields in any casing (and no other error is due).
func checkDuplicate(t *testing.T, data []byte, err error, fields []string) bool {
	t.Helper()
	want := hasFoldDuplicate(t, data, fields)
	got := errors.Is(err, evterr.ErrDuplicateMember)
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
