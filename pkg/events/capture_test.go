package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/stacktest"
	"github.com/commsops/commsops/pkg/events"
)

// fakeGraph answers action requests as Graph does, one route per case, and
// counts what it was sent.
func fakeGraph(t *testing.T) *httptest.Server {
	t.Helper()
	const op = `{"@odata.type":"#microsoft.graph.playPromptOperation","id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5","status":"running","clientContext":"cc-op"}`
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1.0/communications/calls/{id}/playPrompt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/communications/calls/"+r.PathValue("id")+"/operations/0fe0623f")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, op)
	})
	mux.HandleFunc("POST /beta/communications/calls/{id}/participants/invite", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted) // a null operation
	})
	mux.HandleFunc("POST /v1.0/communications/calls/{id}/participants/{pid}/mute", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"code":"BadRequest","message":"no such participant"}}`)
	})
	mux.HandleFunc("POST /v1.0/communications/calls/{id}/recordResponse", func(w http.ResponseWriter, r *http.Request) {
		// Half a body, then the connection drops.
		hj, _ := w.(http.Hijacker)
		conn, buf, _ := hj.Hijack()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"@odata.type\":\"#micro")
		buf.Flush()
		conn.Close()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"call-1","state":"established"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// captureJS runs a server with the streams and returns a Publisher on it.
func captureJS(t *testing.T) (*natstest.Server, jetstream.JetStream, *events.Publisher) {
	t.Helper()
	srv, js := stacktest.Streams(t)
	p, err := events.NewPublisher(js, events.StoreTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return srv, js, p
}

// storedResponses returns the action responses stored in COMMS_IN.
func storedResponses(t *testing.T, js jetstream.JetStream) []events.ActionResponse {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.ActionResponse
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			info, _ := s.Info(ctx)
			if seq > info.State.LastSeq {
				return out
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		e, err := events.DecodeMsg(m.Header, m.Data)
		if err != nil || e.Type() != events.TypeActionResponse {
			continue
		}
		var r events.ActionResponse
		if err := json.Unmarshal(e.Data(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

// exchange is what a caller saw of one request.
type exchange struct {
	status int
	header http.Header
	body   string
	err    string
}

func do(t *testing.T, rt http.RoundTripper, method, url, body string) exchange {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return exchange{err: strings.ReplaceAll(err.Error(), url, "URL")}
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(resp.Body)
	h := resp.Header.Clone()
	h.Del("Date")
	x := exchange{status: resp.StatusCode, header: h, body: string(b)}
	if rerr != nil {
		x.err = rerr.Error()
	}
	return x
}

// TestCaptureIsTransparent: through CaptureResponses a caller reads exactly
// what the plain transport gives (status, headers, body, errors), and each
// action's response is stored as evidence with what Graph and the request
// said.
func TestCaptureIsTransparent(t *testing.T) {
	graph := fakeGraph(t)
	_, js, pub := captureJS(t)
	var capErrs []error
	var mu sync.Mutex
	rt := events.CaptureResponses(nil, pub, events.OnCaptureError(func(err error) {
		mu.Lock()
		capErrs = append(capErrs, err)
		mu.Unlock()
	}))
	cases := []struct {
		name, path, body string
		want             *events.ActionResponse // nil: nothing stored
	}{
		{"operation", "/v1.0/communications/calls/call-1/playPrompt", `{"clientContext":"cc-op","prompts":[]}`,
			&events.ActionResponse{CallID: "call-1", Action: "playPrompt", HTTPStatus: 200, ClientContext: ""}},
		{"null operation", "/beta/communications/calls/call-2/participants/invite", `{"participants":[],"clientContext":"cc-null"}`,
			&events.ActionResponse{CallID: "call-2", Action: "participants/invite", HTTPStatus: 202, ClientContext: "cc-null"}},
		{"refused", "/v1.0/communications/calls/call-3/participants/p-1/mute", `{"clientContext":"cc-refused"}`,
			&events.ActionResponse{CallID: "call-3", Action: "participants/mute", HTTPStatus: 400, ClientContext: "cc-refused"}},
		{"body cut short", "/v1.0/communications/calls/call-4/recordResponse", `{"clientContext":"cc-cut"}`, nil},
		{"not an action", "/v1.0/communications/calls", `{"clientContext":"cc-create"}`, nil},
		{"GET", "/v1.0/communications/calls/call-5/playPrompt", "", nil},
	}
	var want []events.ActionResponse
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPost
			if tc.name == "GET" {
				method = http.MethodGet
			}
			plain := do(t, http.DefaultTransport, method, graph.URL+tc.path, tc.body)
			captured := do(t, rt, method, graph.URL+tc.path, tc.body)
			if fmt.Sprint(plain) != fmt.Sprint(captured) {
				t.Fatalf("captured differs:\n plain    %+v\n captured %+v", plain, captured)
			}
			if tc.want != nil {
				want = append(want, *tc.want)
			}
		})
	}
	var got []events.ActionResponse
	natsWait(t, "responses stored", func() bool { got = storedResponses(t, js); return len(got) >= len(want) })
	if len(got) != len(want) {
		t.Fatalf("stored %d responses, want %d: %+v", len(got), len(want), got)
	}
	byCall := map[string]events.ActionResponse{}
	for _, g := range got {
		byCall[g.CallID] = g
	}
	for _, w := range want {
		g := byCall[w.CallID]
		if g.CallID != w.CallID || g.Action != w.Action || g.HTTPStatus != w.HTTPStatus || g.ClientContext != w.ClientContext || g.SentAt.IsZero() {
			t.Errorf("stored %+v, want %+v", g, w)
		}
	}
	if op := string(byCall["call-1"].Operation); !strings.Contains(op, `"clientContext":"cc-op"`) {
		t.Errorf("operation not stored as Graph sent it: %s", op)
	}
	if string(byCall["call-2"].Operation) != "null" || string(byCall["call-3"].Operation) != "null" {
		t.Errorf("null operations stored as %s, %s", byCall["call-2"].Operation, byCall["call-3"].Operation)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(capErrs) != 1 || !errors.Is(capErrs[0], events.ErrCaptureDropped) {
		t.Fatalf("capture errors %v; want one for the body cut short", capErrs)
	}
}

// TestCapturePassesOtherRequestsUntouched: a request that is not a call
// action reaches the next transport as the very same request, body unread.
func TestCapturePassesOtherRequestsUntouched(t *testing.T) {
	_, _, pub := captureJS(t)
	for _, tc := range []struct{ method, url string }{
		{http.MethodPost, "https://graph.example/v1.0/communications/calls"},
		{http.MethodGet, "https://graph.example/v1.0/communications/calls/c1/operations/o1"},
		{http.MethodPost, "https://graph.example/v1.0/communications/calls/c1/answer"},
		{http.MethodPost, "https://graph.example/v1.0/users/u1/sendMail"},
		{http.MethodDelete, "https://graph.example/v1.0/communications/calls/c1"},
	} {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			body := &countingBody{r: strings.NewReader(`{"clientContext":"x"}`)}
			req, _ := http.NewRequest(tc.method, tc.url, body)
			var seen *http.Request
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				seen = r
				return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
			})
			resp, err := events.CaptureResponses(next, pub).RoundTrip(req)
			if err != nil || resp.Body != http.NoBody {
				t.Fatalf("resp %+v, err %v", resp, err)
			}
			if seen != req || body.n != 0 {
				t.Fatalf("request changed (same: %v) or body read (%d bytes)", seen == req, body.n)
			}
		})
	}
}

// TestCaptureWhileJetStreamIsDown: the bot's call succeeds while the server
// is down, and the response is stored once it is back.
func TestCaptureWhileJetStreamIsDown(t *testing.T) {
	graph := fakeGraph(t)
	srv, js, pub := captureJS(t)
	rt := events.CaptureResponses(nil, pub, events.CaptureRetryFor(time.Minute))
	srv.Shutdown()
	x := do(t, rt, http.MethodPost, graph.URL+"/beta/communications/calls/call-9/participants/invite", `{"clientContext":"cc-down"}`)
	if x.status != http.StatusAccepted || x.err != "" {
		t.Fatalf("bot call failed while JetStream was down: %+v", x)
	}
	srv.Restart()
	natsWait(t, "response stored after the outage", func() bool {
		got := storedResponses(t, js)
		return len(got) == 1 && got[0].ClientContext == "cc-down"
	})
}

func TestCaptureOptions(t *testing.T) {
	_, _, pub := captureJS(t)
	for name, opt := range map[string]events.CaptureOption{
		"nil":            nil,
		"nil handler":    events.OnCaptureError(nil),
		"zero retry":     events.CaptureRetryFor(0),
		"zero pending":   events.CaptureMaxPending(0),
		"nil registerer": events.CaptureMetrics(nil),
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "invalid option") {
					t.Fatalf("no panic naming the invalid option: %v", r)
				}
			}()
			events.CaptureResponses(nil, pub, opt)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type countingBody struct {
	r io.Reader
	n int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += n
	return n, err
}

func (b *countingBody) Close() error { return nil }

// natsWait polls cond every 20ms for up to 30s.
func natsWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
