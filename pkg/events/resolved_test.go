package events

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/subjects"
)

func fullResolved() ResolvedOperation {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	return ResolvedOperation{
		ClientContext: ccD45, CallID: call57, OperationID: op0fe, ODataType: "#microsoft.graph.playPromptOperation",
		Status: StatusCompleted, ResultInfo: &ResultInfo{Code: 200, Subcode: 0, Message: "Action completed successfully."},
		CompletionReason: "completedSuccessfully", RaceDetected: true,
		Sources: []Source{
			{Kind: SourceNotification, ReceivedAt: t0, StreamSeq: 17, Status: StatusCompleted},
			{Kind: SourceResponse, ReceivedAt: t0.Add(time.Millisecond), StreamSeq: 18, Status: StatusRunning, Absorbed: true},
		},
		FirstSeenAt: t0, ResolvedAt: t0.Add(2 * time.Second),
		Extra: map[string]json.RawMessage{
			"recordingLocation": json.RawMessage(`"https://resource.location/17f3"`),
			"createdDateTime":   json.RawMessage(`"2026-11-22T10:00:00.1234567Z"`),
			"participants":      json.RawMessage(`[{"id":"p1"}]`),
			"nothing":           json.RawMessage(`null`),
		},
	}
}

func TestResolvedOperationRoundTrip(t *testing.T) {
	cases := map[string]ResolvedOperation{
		"full":        fullResolved(),
		"no extra":    {ClientContext: "c", Status: StatusRunning, Sources: []Source{}},
		"empty extra": {ClientContext: "c", Status: StatusRunning, Sources: []Source{}, Extra: map[string]json.RawMessage{}},
		"stalled":     {CallID: call421, OperationID: "1", Status: StatusStalled, Sources: []Source{{Kind: SourceStallTimer}}},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) {
				t.Fatalf("invalid JSON: %s", b)
			}
			var back ResolvedOperation
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if len(r.Extra) == 0 {
				r.Extra = nil // an empty Extra comes back absent
			}
			if !reflect.DeepEqual(back, r) {
				t.Errorf("round trip changed it:\n got %+v\nwant %+v\njson %s", back, r, b)
			}
			again, _ := json.Marshal(back)
			if string(again) != string(b) {
				t.Errorf("not stable:\n%s\n%s", b, again)
			}
		})
	}
}

// TestResolvedOperationWireShape: the contract's field names, nanosecond
// times, and Extra at the top level after the named fields, sorted.
func TestResolvedOperationWireShape(t *testing.T) {
	b, err := json.Marshal(fullResolved())
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"clientContext", "callId", "operationId", "odataType", "status", "resultInfo", "completionReason",
		"raceDetected", "sources", "firstSeenAt", "resolvedAt", "recordingLocation", "createdDateTime", "participants", "nothing"} {
		if _, ok := top[k]; !ok {
			t.Errorf("field %s missing from %s", k, b)
		}
	}
	if string(top["firstSeenAt"]) != `"2026-11-22T10:00:00.123456789Z"` || string(top["participants"]) != `[{"id":"p1"}]` {
		t.Errorf("values changed: %s", b)
	}
	s := string(b)
	if i, j := strings.Index(s, `"resolvedAt"`), strings.Index(s, `"createdDateTime"`); i < 0 || j < i {
		t.Errorf("extra fields not after the named ones: %s", s)
	}
	if i, j := strings.Index(s, `"createdDateTime"`), strings.Index(s, `"recordingLocation"`); j < i {
		t.Errorf("extra fields not sorted: %s", s)
	}
	// Omitted when empty: resultInfo, completionReason; sources' optional fields.
	b, _ = json.Marshal(ResolvedOperation{Status: StatusRunning, Sources: []Source{{Kind: SourceResponse}}})
	if strings.Contains(string(b), "resultInfo") || strings.Contains(string(b), "completionReason") ||
		strings.Contains(string(b), "absorbed") || strings.Contains(string(b), "streamSeq") {
		t.Errorf("empty optional fields written: %s", b)
	}
}

// TestResolvedExtraNeverOverrides: an Extra field named like a named field, in
// any casing, is dropped on output: encoding/json matches keys
// case-insensitively and the last one wins, so "Status" written after
// "status" would override it for every Go reader.
func TestResolvedExtraNeverOverrides(t *testing.T) {
	r := fullResolved()
	for _, k := range []string{"status", "Status", "STATUS", "clientcontext", "callId", "CallID", "sources", "Sources",
		"raceDetected", "RaceDetected", "resultinfo", "resolvedat", "firstSeenAT", "operationID", "odatatype", "CompletionReason"} {
		r.Extra[k] = json.RawMessage(`"evil"`)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "evil") {
		t.Errorf("an extra field shadows a named one: %s", b)
	}
	var back ResolvedOperation
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	want := fullResolved()
	if !reflect.DeepEqual(back, want) {
		t.Errorf("named fields changed:\n got %+v\nwant %+v", back, want)
	}
	// A case variant in the input is read as the named field, never kept as extra.
	if err := json.Unmarshal([]byte(`{"Status":"failed","CALLID":"c","x":1}`), &back); err != nil {
		t.Fatal(err)
	}
	if back.Status != StatusFailed || back.CallID != "c" || len(back.Extra) != 1 || string(back.Extra["x"]) != "1" {
		t.Errorf("got %+v", back)
	}
}

// TestResolvedFieldNamesMatchTags: the list of named fields MarshalJSON keeps
// extras away from is exactly the struct's JSON names.
func TestResolvedFieldNamesMatchTags(t *testing.T) {
	var tags []string
	rt := reflect.TypeFor[ResolvedOperation]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "-" && name != "" {
			tags = append(tags, name)
		}
	}
	got := slices.Clone(resolvedFieldNames)
	slices.Sort(got)
	slices.Sort(tags)
	if !slices.Equal(got, tags) {
		t.Errorf("resolvedFieldNames %v, struct tags %v", got, tags)
	}
}

func TestResolvedOperationErrors(t *testing.T) {
	r := ResolvedOperation{Status: StatusRunning, Extra: map[string]json.RawMessage{"bad": json.RawMessage(`{"x":`)}}
	_, err := json.Marshal(r)
	if !errors.Is(err, ErrInvalidPayload) || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("invalid extra: %v", err)
	}
	for _, in := range []string{`[]`, `"x"`, `{"status":5}`, `{"sources":{}}`, `{"firstSeenAt":"yesterday"}`, `{"resultInfo":{"code":"x"}}`} {
		var back ResolvedOperation
		if err := json.Unmarshal([]byte(in), &back); !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("Unmarshal(%s) = %v, want ErrInvalidPayload", in, err)
		}
	}
}

func TestResolvedSource(t *testing.T) {
	cases := map[string]string{
		call57:       "/communications/calls/" + call57,
		"a b/c?d#e%": "/communications/calls/a%20b%2Fc%3Fd%23e%25",
		"":           "/communications/calls/",
	}
	for id, want := range cases {
		got := subjects.ResolvedSource(id)
		if got != want {
			t.Errorf("subjects.ResolvedSource(%q) = %q, want %q", id, got, want)
		}
		if u, err := url.Parse(got); err != nil || u.Path != "/communications/calls/"+id {
			t.Errorf("subjects.ResolvedSource(%q) = %q is not a URI reference naming the call (%v)", id, got, err)
		}
	}
}
