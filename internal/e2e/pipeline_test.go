package e2e

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

type step struct {
	route string
	body  any
}

func N(o op) step                       { return step{"/v1/notifications", notification(o)} }
func R(action string, o op, s int) step { return step{"/v1/responses", response(action, o, s)} }

// TestPipelineScenarios drives every documented case through HTTP, the
// stream and a resolver, and checks the resolved events of each clientContext.
func TestPipelineScenarios(t *testing.T) {
	p := startPipeline(t)
	p.startWorker("w1", resolverDefaults())

	const (
		opA = "0fe0623f-d628-42ed-b4bd-8ac290072cc5"
		opB = "1fe0623f-d628-42ed-b4bd-8ac290072cc5"
		opC = "2fe0623f-d628-42ed-b4bd-8ac290072cc5"
		opD = "3fe0623f-d628-42ed-b4bd-8ac290072cc5"
	)
	cases := []struct {
		name     string
		cc       string
		steps    []step
		opID     string // "" checks every operation of cc together
		want     []events.Status
		wantRace bool
	}{
		{
			name: "notification first (the race): running response absorbed",
			cc:   "race-notif-first",
			steps: []step{
				N(op{typ: "playPromptOperation", id: opA, cc: "race-notif-first", status: "completed", code: 200}),
				R("playPrompt", op{typ: "playPromptOperation", id: opA, cc: "race-notif-first", status: "running"}, 200),
			},
			want: []events.Status{events.StatusCompleted},
		},
		{
			name: "response first: running then completed",
			cc:   "race-resp-first",
			steps: []step{
				R("playPrompt", op{typ: "playPromptOperation", id: opA, cc: "race-resp-first", status: "running"}, 200),
				N(op{typ: "playPromptOperation", id: opA, cc: "race-resp-first", status: "completed", code: 200}),
			},
			want: []events.Status{events.StatusRunning, events.StatusCompleted},
		},
		{
			name: "older status after a newer one sets raceDetected on what follows",
			cc:   "race-flag",
			steps: []step{
				N(op{typ: "recordOperation", id: opA, cc: "race-flag", status: "running"}),
				R("record", op{typ: "recordOperation", id: opA, cc: "race-flag", status: "notStarted"}, 200),
				N(op{typ: "recordOperation", id: opA, cc: "race-flag", status: "failed", code: 400, subcode: 8508, reason: "operationCanceled"}),
			},
			want:     []events.Status{events.StatusRunning, events.StatusFailed},
			wantRace: true,
		},
		{
			name: "duplicates and re-posts are absorbed",
			cc:   "dups",
			steps: []step{
				R("playPrompt", op{typ: "playPromptOperation", id: opA, cc: "dups", status: "running"}, 200),
				R("playPrompt", op{typ: "playPromptOperation", id: opA, cc: "dups", status: "running"}, 200),
				N(op{typ: "playPromptOperation", id: opA, cc: "dups", status: "running"}),
				N(op{typ: "playPromptOperation", id: opA, cc: "dups", status: "completed", code: 200}),
				N(op{typ: "playPromptOperation", id: opA, cc: "dups", status: "completed", code: 200}),
				N(op{typ: "playPromptOperation", id: opA, cc: "dups", status: "running"}),
			},
			want: []events.Status{events.StatusRunning, events.StatusCompleted},
		},
		{
			name: "null operation (202) then notifications with the id",
			cc:   "null-op",
			steps: []step{
				R("playPrompt", op{cc: "null-op"}, 202),
				N(op{typ: "playPromptOperation", id: opB, cc: "null-op", status: "running"}),
				N(op{typ: "playPromptOperation", id: opB, cc: "null-op", status: "completed", code: 200}),
			},
			opID: opB,
			want: []events.Status{events.StatusRunning, events.StatusCompleted},
		},
		{
			name:  "terminal action response resolves without a notification",
			cc:    "terminal-resp",
			steps: []step{R("unmute", op{typ: "unmuteParticipantOperation", id: opC, cc: "terminal-resp", status: "completed", code: 200}, 200)},
			want:  []events.Status{events.StatusCompleted},
		},
		{
			name:  "refused action (HTTP 403, null operation) resolves failed",
			cc:    "refused",
			steps: []step{R("playPrompt", op{cc: "refused"}, 403)},
			want:  []events.Status{events.StatusFailed},
		},
		{
			name: "notStarted then completed emits exactly those two",
			cc:   "no-invention",
			steps: []step{
				R("subscribeToTone", op{typ: "subscribeToToneOperation", id: opD, cc: "no-invention", status: "notStarted"}, 200),
				N(op{typ: "subscribeToToneOperation", id: opD, cc: "no-invention", status: "completed", code: 200}),
			},
			want: []events.Status{events.StatusNotStarted, events.StatusCompleted},
		},
		{
			name: "unknown operation type still resolves",
			cc:   "unknown-type",
			steps: []step{
				N(op{typ: "fooBarOperation", id: opA, cc: "unknown-type", status: "running"}),
				N(op{typ: "fooBarOperation", id: opA, cc: "unknown-type", status: "completed", code: 200}),
			},
			want: []events.Status{events.StatusRunning, events.StatusCompleted},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range tc.steps {
				p.mustPost(s.route, s.body)
			}
			p.out.waitFor(t, 10*time.Second, tc.cc, func(evs []resolvedEvent) bool {
				return len(statusesOf(evs, tc.cc, tc.opID)) >= len(tc.want)
			})
			evs := p.out.settle(300 * time.Millisecond)
			got := statusesOf(evs, tc.cc, tc.opID)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("statuses = %v, want %v\n%s", got, tc.want, describe(evs))
			}
			last := lastOf(evs, tc.cc)
			if last.Data.RaceDetected != tc.wantRace {
				t.Errorf("raceDetected = %v, want %v", last.Data.RaceDetected, tc.wantRace)
			}
			if last.Type != subjects.ResolvedType(string(last.Data.Status)) || last.Data.CallID != callID {
				t.Errorf("event type %q callId %q", last.Type, last.Data.CallID)
			}
		})
	}
	t.Run("invariants", func(t *testing.T) { assertInvariants(t, p.out.settle(300*time.Millisecond)) })
}

func lastOf(evs []resolvedEvent, cc string) resolvedEvent {
	var last resolvedEvent
	for _, e := range evs {
		if e.Data.ClientContext == cc {
			last = e
		}
	}
	return last
}

// TestSharedClientContextAndIDFormats: Microsoft's samples reuse the call id
// as clientContext for every operation; operations stay apart by id, ids
// match across formats, and a null-id notification finds its open operation.
func TestSharedClientContextAndIDFormats(t *testing.T) {
	p := startPipeline(t)
	p.startWorker("w1", resolverDefaults())
	cc := callID // the sample's habit
	const play = "0fe0623f-d628-42ed-b4bd-8ac290072cc5"
	const rec = "9ab0623f-d628-42ed-b4bd-8ac290072cc5"
	p.mustPost("/v1/responses", response("playPrompt", op{typ: "playPromptOperation", id: traffic.UpperNoDash(play), cc: cc, status: "running"}, 200))
	p.mustPost("/v1/responses", response("record", op{typ: "recordOperation", id: rec, cc: cc, status: "running"}, 200))
	p.mustPost("/v1/notifications", notification(op{typ: "recordOperation", id: rec, cc: cc, status: "failed", code: 400, subcode: 8508, reason: "operationCanceled"}))
	p.mustPost("/v1/notifications", notification(op{typ: "playPromptOperation", id: play, cc: cc, status: "completed", code: 200}))

	// The invite: response with an upper-case id and "Running"; its
	// notification has a null id and ".../operations/participants".
	p.mustPost("/v1/responses", readTestdata(t, "invite_response_running.json"))
	p.mustPost("/v1/notifications", readTestdata(t, "invite_null_id.json"))

	p.out.waitFor(t, 10*time.Second, "all operations", func(evs []resolvedEvent) bool { return len(evs) >= 6 })
	evs := p.out.settle(300 * time.Millisecond)
	for _, c := range []struct {
		cc, id string
		want   []events.Status
	}{
		{cc, play, []events.Status{events.StatusRunning, events.StatusCompleted}},
		{cc, rec, []events.Status{events.StatusRunning, events.StatusFailed}},
		{"invite-cc-1", "a7e3c4d2-1111-4222-8333-944455556666", []events.Status{events.StatusRunning, events.StatusCompleted}},
	} {
		if got := statusesOf(evs, c.cc, c.id); !slices.Equal(got, c.want) {
			t.Errorf("op %s: statuses %v, want %v\n%s", c.id, got, c.want, describe(evs))
		}
	}
	for _, e := range evs {
		if e.Data.OperationID == rec && e.Data.Status == events.StatusFailed {
			if e.Data.ResultInfo == nil || e.Data.ResultInfo.Subcode != 8508 || e.Data.CompletionReason != "operationCanceled" {
				t.Errorf("failed record lost its resultInfo: %+v", e.Data)
			}
		}
		if e.Data.ClientContext == "invite-cc-1" && e.Data.Extra["participants"] == nil {
			t.Errorf("further operation fields not carried: %+v", e.Data.Extra)
		}
	}
	if len(evs) != 6 {
		t.Errorf("%d events, want 6\n%s", len(evs), describe(evs))
	}
	assertInvariants(t, evs)
}

// TestNonOperationNotificationsStored: call state and roster notifications
// are stored in COMMS_IN as events of their own types and never resolved.
func TestNonOperationNotificationsStored(t *testing.T) {
	p := startPipeline(t)
	p.mustPost("/v1/notifications", readTestdata(t, "call_and_roster.json"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p.js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		e, err := events.DecodeMsg(m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		counts[e.Type()]++
		in, err := subjects.ParseStoredIn(m.Subject)
		if err != nil {
			t.Fatal(err)
		}
		if in.Kind == string(graphwire.KindOperation) {
			t.Errorf("non-operation stored under an operation subject %s", m.Subject)
		}
	}
	if counts[events.TypeCallNotification] != 1 || counts[events.TypeParticipantNotification] != 2 {
		t.Fatalf("stored types %v", counts)
	}
	if info, _ := s.Info(ctx); info.State.Msgs != 3 {
		t.Fatalf("%d messages stored, want 3", info.State.Msgs)
	}
	// A Graph retry of the same callback is stored once.
	p.mustPost("/v1/notifications", readTestdata(t, "call_and_roster.json"))
	if info, _ := s.Info(ctx); info.State.Msgs != 3 {
		t.Fatalf("retry stored again: %d messages", info.State.Msgs)
	}
}

// TestBadInputStoresNothing: every rejection is a problem+json with a
// status that says why, and nothing reaches the stream.
func TestBadInputStoresNothing(t *testing.T) {
	p := startPipeline(t)
	long := make([]byte, 257)
	for i := range long {
		long[i] = 'a'
	}
	cases := []struct {
		name, route, ctype string
		body               string
		want               int
	}{
		{"not json", "/v1/notifications", "application/json", `{"value":[`, http.StatusBadRequest},
		{"no value", "/v1/notifications", "application/json", `{"@odata.type":"x"}`, http.StatusBadRequest},
		{"wrong content type", "/v1/notifications", "text/plain", `{"value":[]}`, http.StatusUnsupportedMediaType},
		{"bad status", "/v1/notifications", "application/json", `{"value":[{"resourceUrl":"/communications/calls/x/operations/1a","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","status":"finished"}}]}`, http.StatusBadRequest},
		{"clientContext too long", "/v1/responses", "application/json", `{"callId":"c","action":"playPrompt","clientContext":"` + string(long) + `","httpStatus":202,"operation":null}`, http.StatusBadRequest},
		{"null operation without clientContext", "/v1/responses", "application/json", `{"callId":"c","action":"playPrompt","httpStatus":202,"operation":null}`, http.StatusBadRequest},
		{"too large", "/v1/responses", "application/json", `{"pad":"` + string(make([]byte, 0)) + stringsRepeat("x", 2<<20) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, p.http.URL+tc.route, stringsReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
		})
	}
	ctx := context.Background()
	s, _ := p.js.Stream(ctx, events.StreamIn)
	if info, _ := s.Info(ctx); info.State.Msgs != 0 {
		t.Fatalf("bad input stored %d messages", info.State.Msgs)
	}
}
