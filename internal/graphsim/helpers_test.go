package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds how long a test awaits a condition.
const waitLimit = 15 * time.Second

// testLog logs to t when -v, else nowhere.
func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// received is one callback as the receiver got it.
type received struct {
	At     time.Time
	Header http.Header
	Body   []byte
	Status int // what the receiver answered
}

// receiver is a callback endpoint that records what it receives and answers
// what answer says (202 when nil).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, r *http.Request, body []byte) int
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request, body []byte) int) *receiver {
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.mu.Unlock()
		status := http.StatusAccepted
		if rc.answer != nil {
			status = rc.answer(n, r, body)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, received{At: time.Now(), Header: r.Header.Clone(), Body: body, Status: status})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/v1/notifications" }

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// startSim runs a simulator over httptest; cfg.Log defaults to testLog.
func startSim(t *testing.T, cfg Config) (*Simulator, *httptest.Server) {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = testLog(t)
	}
	if cfg.Step == 0 {
		cfg.Step = 10 * time.Millisecond
	}
	sim, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sim.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		ts.Close()
	})
	return sim, ts
}

// do sends method to url with body and headers (name, value pairs) and
// returns the status, headers and body of the answer.
func do(t *testing.T, method, url, body string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// fixture returns testdata/name with its placeholders replaced (old, new pairs).
func fixture(t *testing.T, name string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(repl...).Replace(string(b))
}

// createCall creates a call whose callbacks go to callback and returns its id.
func createCall(t *testing.T, ts *httptest.Server, callback string, hdr ...string) string {
	t.Helper()
	status, _, body := do(t, http.MethodPost, ts.URL+"/v1.0/communications/calls", fixture(t, "create-call.json", "CALLBACK", callback), hdr...)
	if status != http.StatusCreated {
		t.Fatalf("create call: %d %s", status, body)
	}
	var c struct{ ID string }
	if err := json.Unmarshal(body, &c); err != nil || c.ID == "" {
		t.Fatalf("create call: no id in %s", body)
	}
	return c.ID
}

// action posts an action with clientContext cc and returns the operation it
// answered with.
func action(t *testing.T, ts *httptest.Server, callID, path, cc string, hdr ...string) map[string]any {
	t.Helper()
	status, _, body := do(t, http.MethodPost, ts.URL+"/v1.0/communications/calls/"+callID+"/"+path, `{"clientContext":"`+cc+`"}`, hdr...)
	if status != http.StatusOK {
		t.Fatalf("%s: %d %s", path, status, body)
	}
	var op map[string]any
	if err := json.Unmarshal(body, &op); err != nil {
		t.Fatalf("%s: %s: %v", path, body, err)
	}
	return op
}

// waitTruth polls the call's ground truth until cond holds.
func waitTruth(t *testing.T, sim *Simulator, callID, what string, cond func(CallTruth) bool) CallTruth {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		tr, err := sim.Truth(callID)
		if err != nil {
			t.Fatal(err)
		}
		if cond(tr) {
			return tr
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(tr, "", "  ")
			t.Fatalf("timed out waiting for %s; truth:\n%s", what, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}
