package resolver

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/commsops/commsops/pkg/events"
)

// randomString mixes plain text with everything encoding/json escapes.
func randomString(r *rand.Rand) string {
	parts := []string{"", "a", "cc-1", "<&>", `"\`, "\b\f\n\r\t\x00\x1f", "é", "\u2028\u2029", "\xff\xfe", "日本", "\x7f", " "}
	var b []byte
	for range r.IntN(4) {
		b = append(b, parts[r.IntN(len(parts))]...)
	}
	return string(b)
}

// fillRandom sets every exported field reachable from v to random values, nil or
// empty sometimes, so that a field the encoder forgets shows up as a
// difference from json.Marshal.
func fillRandom(r *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(randomString(r))
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt([]int64{0, 1, -1, 404, 1 << 40}[r.IntN(5)] % (1 << 31))
	case reflect.Uint64, reflect.Uint:
		v.SetUint([]uint64{0, 1, 42, 1 << 63}[r.IntN(4)])
	case reflect.Pointer:
		if r.IntN(3) == 0 || depth > 4 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fillRandom(r, v.Elem(), depth+1)
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte([]string{`1`, `"x<y"`, `{"b": [1, 2], "a": null}`, "\"\u2028\""}[r.IntN(4)]))
			return
		}
		n := r.IntN(4) - 1 // -1: nil
		if n < 0 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fillRandom(r, v.Index(i), depth+1)
		}
	case reflect.Map:
		if r.IntN(2) == 0 {
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		for range r.IntN(3) {
			k := reflect.New(v.Type().Key()).Elem()
			fillRandom(r, k, depth+1)
			e := reflect.New(v.Type().Elem()).Elem()
			fillRandom(r, e, depth+1)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if r.IntN(4) > 0 {
				loc := []*time.Location{time.UTC, time.FixedZone("x", 5400)}[r.IntN(2)]
				v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(2)*r.Int64N(1e9)).In(loc)))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillRandom(r, v.Field(i), depth+1)
			}
		}
	}
}

func TestMarshalStateMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for i := range 3000 {
		var st KeyState
		fillRandom(r, reflect.ValueOf(&st).Elem(), 0)
		st.Outbox = nil // written by earlier versions only (encoded by encoding/json)
		want, err := json.Marshal(&st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshalState(&st)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("state %d:\n got %s\nwant %s", i, got, want)
		}
		var m map[string]any
		_ = json.Unmarshal(want, &m)
		for k := range m {
			seen[k] = true
		}
	}
	for _, k := range []string{"key", "ops", "applied", "resolvedSeq"} {
		if !seen[k] {
			t.Errorf("no random state had %q: the generator does not cover it", k)
		}
	}
}

func TestMarshalStateLegacyOutbox(t *testing.T) {
	st := &KeyState{Key: "k", Outbox: []Emission{{ID: "e1", Subject: "s", Status: events.StatusCompleted, Data: []byte(`{}`)}}}
	got, err := marshalState(st)
	if err != nil {
		t.Fatal(err)
	}
	var back KeyState
	if err := unmarshalState(got, &back); err != nil || len(back.Outbox) != 1 || back.Outbox[0].ID != "e1" {
		t.Fatalf("outbox lost: %s (%v)", got, err)
	}
}

func BenchmarkMarshalState(b *testing.B) {
	at := time.Date(2026, 12, 2, 5, 0, 0, 123456789, time.UTC)
	st := &KeyState{Key: "cc-123", Applied: []uint64{10, 11, 12}, ResolvedSeq: 99, Ops: []*OpState{{
		Slot: "id:0fe0623f-d628-42ed-b4bd-8ac290072cc5", ID: "0fe0623f-d628-42ed-b4bd-8ac290072cc5",
		CallID: "57dab8b1-894c-409a-b240-bd8beae78896", ClientContext: "cc-123",
		ODataType: "#microsoft.graph.playPromptOperation", Status: events.StatusCompleted,
		Emitted: []events.Status{events.StatusRunning, events.StatusCompleted}, ResultInfo: &events.ResultInfo{Code: 200},
		Sources: []events.Source{{Kind: events.SourceResponse, ReceivedAt: at, StreamSeq: 10, Status: events.StatusRunning},
			{Kind: events.SourceNotification, ReceivedAt: at, StreamSeq: 12, Status: events.StatusCompleted}},
		FirstSeenAt: at, LastNewsAt: at, NewsSeq: 12, StallDue: at,
		Extra: map[string]json.RawMessage{"@odata.etag": json.RawMessage(`"W/\"3\""`)},
	}}}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshalState", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshalState(st); err != nil {
				b.Fatal(err)
			}
		}
	})
}
