package events

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/randfill"
)

// referenceResolvedJSON is what json.Marshal wrote for a ResolvedOperation
// before AppendJSON: the named fields by reflection, then the extras that are
// no named field, sorted, the whole compacted as json.Marshal compacts a
// Marshaler's output.
func referenceResolvedJSON(t *testing.T, r ResolvedOperation) ([]byte, error) {
	base, err := json.Marshal(resolvedAlias(r))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range r.Extra {
		if !isResolvedField(k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	out := base[:len(base)-1]
	for _, k := range names {
		kb, _ := json.Marshal(k)
		out = append(append(append(out, ','), kb...), ':')
		out = append(out, r.Extra[k]...)
	}
	return json.Marshal(json.RawMessage(append(out, '}')))
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		var ro ResolvedOperation
		randfill.Fill(r, reflect.ValueOf(&ro).Elem())
		want, wantErr := referenceResolvedJSON(t, ro)
		got, err := json.Marshal(ro) // through MarshalJSON, as every caller writes it
		if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("resolved %d:\n got %s (%v)\nwant %s (%v)", i, got, err, want, wantErr)
		}
		if direct, _ := ro.AppendJSON(nil); err == nil && !bytes.Equal(direct, want) {
			t.Fatalf("resolved %d: AppendJSON %s, want %s", i, direct, want)
		}
		for _, s := range ro.Sources {
			got, err := s.AppendJSON(nil)
			if want, _ := json.Marshal(s); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("source: %s (%v), want %s", got, err, want)
			}
		}
		if ri := ro.ResultInfo; ri != nil {
			if want, _ := json.Marshal(struct {
				Code    int    `json:"code"`
				Subcode int    `json:"subcode"`
				Message string `json:"message,omitempty"`
			}(*ri)); !bytes.Equal(ri.AppendJSON(nil), want) {
				t.Fatalf("resultInfo: %s, want %s", ri.AppendJSON(nil), want)
			}
		}
	}
}

func TestAppendJSONExtraNeverOverridesNamedFields(t *testing.T) {
	ro := ResolvedOperation{Status: StatusCompleted, Extra: map[string]json.RawMessage{
		"Status": json.RawMessage(`"running"`), "sources": json.RawMessage(`1`), "recordingLocation": json.RawMessage(`"u"`)}}
	want, _ := referenceResolvedJSON(t, ro)
	got, err := json.Marshal(ro)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %s (%v), want %s", got, err, want)
	}
	if bytes.Contains(got, []byte(`"Status"`)) || !bytes.Contains(got, []byte(`"recordingLocation":"u"`)) {
		t.Fatalf("extras: %s", got)
	}
}

// TestAppendJSONTimeRange: a time RFC 3339 cannot write, in ResolvedAt or
// in a source, fails AppendJSON as it fails json.Marshal (jsonx's tests
// cover the range itself), and one it can write does not.
func TestAppendJSONTimeRange(t *testing.T) {
	for _, c := range []struct {
		name  string
		at    time.Time
		fails bool
	}{
		{"year 10000", time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -3600)).UTC(), true},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999, time.UTC), false},
	} {
		for _, ro := range []ResolvedOperation{
			{Status: StatusCompleted, ResolvedAt: c.at},
			{Status: StatusCompleted, Sources: []Source{{Kind: SourceResponse, ReceivedAt: c.at}}},
		} {
			_, wantErr := json.Marshal(resolvedAlias(ro))
			if _, err := ro.AppendJSON(nil); (err != nil) != c.fails || (wantErr != nil) != c.fails {
				t.Fatalf("%s: ResolvedOperation.AppendJSON err %v, json.Marshal %v", c.name, err, wantErr)
			}
		}
	}
}

func TestAppendRawJSONRefusesInvalid(t *testing.T) {
	ro := ResolvedOperation{Extra: map[string]json.RawMessage{"x": json.RawMessage(`{`)}}
	if _, err := json.Marshal(ro); err == nil {
		t.Error("invalid extra marshalled")
	}
}
