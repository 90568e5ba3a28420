package resolver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/randfill"
	"github.com/commsops/commsops/pkg/events"
)

func TestMarshalStateMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for i := range 3000 {
		var st KeyState
		randfill.Fill(r, reflect.ValueOf(&st).Elem())
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

// TestMarshalStateRefusesUnwritableTimes: a time RFC 3339 cannot write fails
// the write, as with json.Marshal, instead of storing a state no reader loads.
func TestMarshalStateRefusesUnwritableTimes(t *testing.T) {
	late := time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -3600)).UTC() // year 10000
	for _, st := range []*KeyState{
		{Key: "k", Ops: []*OpState{{Slot: "id:1", FirstSeenAt: late}}},
		{Key: "k", Ops: []*OpState{{Slot: "id:1", Sources: []events.Source{{Kind: events.SourceResponse, ReceivedAt: late}}}}},
		{Key: "k", Ops: []*OpState{{Slot: "id:1", StallDue: late}}},
	} {
		_, wantErr := json.Marshal(st)
		if _, err := marshalState(st); err == nil || wantErr == nil {
			t.Fatalf("marshalState err %v, json.Marshal err %v", err, wantErr)
		}
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

// TestEncodedSizeCoversStates: marshalState's buffer estimate holds a
// state of one to 64 sources per operation without growing.
func TestEncodedSizeCoversStates(t *testing.T) {
	for _, n := range []int{1, 2, 8, 64} {
		t.Run(fmt.Sprint(n, " messages"), func(t *testing.T) {
			st := &KeyState{Key: "cc-00000001"}
			for i := 1; i <= n; i++ {
				e := ev(uint64(i), R, "57dab8b1-894c-409a-b240-bd8beae78896", events.StatusRunning)
				e.ClientContext = st.Key
				e.ResultInfo = &events.ResultInfo{Code: 200, Message: "the action was accepted"}
				st.Apply(e)
				st.StallSchedules(60e9, "comms.in.0.op."+st.Key, t0)
			}
			b, err := marshalState(st)
			if err != nil {
				t.Fatal(err)
			}
			if est := encodedSize(st); len(b) > est {
				t.Fatalf("state of %d bytes, estimated %d", len(b), est)
			}
		})
	}
}

// TestEncodedSizeCoversResolvedData: the estimate also holds an
// operation's resolved event data, which emission sizes its buffer by.
func TestEncodedSizeCoversResolvedData(t *testing.T) {
	for _, n := range []int{1, 2, 8, 64} {
		t.Run(fmt.Sprint(n, " messages"), func(t *testing.T) {
			st := &KeyState{Key: "cc-00000001"}
			for i := 1; i <= n; i++ {
				e := ev(uint64(i), R, "57dab8b1-894c-409a-b240-bd8beae78896", events.StatusRunning)
				e.ClientContext = st.Key
				e.ResultInfo = &events.ResultInfo{Code: 200, Message: "the action was accepted"}
				e.CompletionReason = "completedSuccessfully"
				st.Apply(e)
			}
			op := st.Ops[0]
			b, err := op.Resolved(events.StatusCompleted, t0).AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			if est := op.encodedSize(); len(b) > est {
				t.Fatalf("data of %d bytes, estimated %d", len(b), est)
			}
		})
	}
}
