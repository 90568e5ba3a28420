package opsapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/commsops/commsops/internal/eventstest"
	"github.com/commsops/commsops/internal/opsapi"
	"github.com/commsops/commsops/internal/stacktest"
	"github.com/commsops/commsops/pkg/events"
)

const token = "bot-token-0123456789"

// api runs the handler against an embedded JetStream with the pipeline's
// streams; every route needs the bearer token.
func api(t *testing.T, keepAlive time.Duration) (*httptest.Server, jetstream.JetStream, *prometheus.Registry) {
	t.Helper()
	_, js := stacktest.Streams(t)
	ops, err := events.NewOperations(js)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ops.Close() })
	reg := prometheus.NewRegistry()
	h, err := opsapi.NewHandler(opsapi.Options{
		Ops: ops,
		Auth: func(r *http.Request) error {
			if r.Header.Get("Authorization") != "Bearer "+token {
				return errors.New("no token")
			}
			return nil
		},
		Responses: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }),
		KeepAlive: keepAlive,
		Registry:  reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs, js, reg
}

// gauge returns the value of the gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

type answer struct {
	status int
	index  string
	body   struct {
		ClientContext string                     `json:"clientContext"`
		Operations    []events.ResolvedOperation `json:"operations"`
		Index         uint64                     `json:"index"`
		Done          bool                       `json:"done"`
		Detail        string                     `json:"detail"`
	}
}

func get(t *testing.T, base, path string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, index: resp.Header.Get("Commsops-Index")}
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		t.Fatalf("GET %s: %d, body: %v", path, resp.StatusCode, err)
	}
	return a
}

func TestState(t *testing.T) {
	hs, js, _ := api(t, time.Minute)
	cc := "cc/with slash"
	path := "/v1/operations/" + url.PathEscape(cc)
	if a := get(t, hs.URL, path); a.status != http.StatusNotFound {
		t.Fatalf("nothing resolved: %d", a.status)
	}
	eventstest.EmitResolved(t, js, cc, "1", "op-1", events.StatusRunning)
	seq := eventstest.EmitResolved(t, js, cc, "1", "op-1", events.StatusCompleted)
	a := get(t, hs.URL, path)
	if a.status != 200 || a.body.ClientContext != cc || len(a.body.Operations) != 1 || a.body.Operations[0].Status != events.StatusCompleted ||
		a.body.Index != seq || a.index != fmt.Sprint(seq) || !a.body.Done {
		t.Fatalf("state: %+v", a)
	}
	if a := get(t, hs.URL, path+"?until=running"); a.body.Done {
		t.Fatalf("until=running done on a completed operation: %+v", a)
	}
	if a := get(t, hs.URL, path+"?operationId=other"); a.body.Done {
		t.Fatalf("operationId of no operation done: %+v", a)
	}
	for _, q := range []string{"?wait=61s", "?wait=soon", "?until=done", "?until=" + strings.Repeat("x", 300)} {
		if a := get(t, hs.URL, path+q); a.status != http.StatusBadRequest || a.body.Detail == "" || len(a.body.Detail) > 300 {
			t.Errorf("%s: %d %q", q, a.status, a.body.Detail)
		}
	}
}

func TestBlockingQuery(t *testing.T) {
	hs, js, reg := api(t, time.Minute)
	// The wait ends first: 200 with done false and what is known.
	a := get(t, hs.URL, "/v1/operations/cc-slow?wait=100ms")
	if a.status != 200 || a.body.Done || len(a.body.Operations) != 0 || a.body.Index != 0 {
		t.Fatalf("wait ended: %+v", a)
	}
	// The operation completes during the wait.
	eventstest.EmitResolved(t, js, "cc-wait", "1", "op-w", events.StatusRunning)
	got := make(chan answer, 1)
	go func() { got <- get(t, hs.URL, "/v1/operations/cc-wait?wait=30s&operationId=OP-W") }()
	waitFor(t, "the query waits", func() bool { return gauge(t, reg, "commsops_api_waiting_queries") == 1 })
	seq := eventstest.EmitResolved(t, js, "cc-wait", "1", "op-w", events.StatusFailed)
	select {
	case a := <-got:
		if a.status != 200 || !a.body.Done || a.body.Index != seq || a.body.Operations[0].Status != events.StatusFailed {
			t.Fatalf("completed during the wait: %+v", a)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the blocking query did not answer on completion")
	}
}

// TestManyLongPollsShareOneConsumer: concurrent blocking queries create no
// consumer of their own and each answers when its operation completes.
func TestManyLongPollsShareOneConsumer(t *testing.T) {
	hs, js, reg := api(t, time.Minute)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := get(t, hs.URL, fmt.Sprintf("/v1/operations/lp-%d?wait=30s", i))
			if !a.body.Done {
				errs <- fmt.Errorf("lp-%d: %+v", i, a)
			}
		}()
	}
	waitFor(t, "queries pending", func() bool { return gauge(t, reg, "commsops_api_waiting_queries") == n })
	for i := range n {
		eventstest.EmitResolved(t, js, fmt.Sprintf("lp-%d", i), "1", "op", events.StatusCompleted)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, _ := js.Stream(context.Background(), events.StreamResolved)
	if info, err := s.Info(context.Background()); err != nil || info.State.Consumers != 1 {
		t.Fatalf("consumers: %v %v", info.State.Consumers, err)
	}
}

// TestEventStream: the stored events, then live ones, as SSE messages with the
// stream sequence as id; Last-Event-ID resumes after it; a comment keeps the
// stream open.
func TestEventStream(t *testing.T) {
	hs, js, reg := api(t, 50*time.Millisecond)
	s1 := eventstest.EmitResolved(t, js, "cc-sse", "1", "op-1", events.StatusRunning)
	s2 := eventstest.EmitResolved(t, js, "cc-sse", "1", "op-1", events.StatusCompleted)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(lastID string) *bufio.Reader {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/v1/operations/cc-sse/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		t.Cleanup(func() { resp.Body.Close() })
		return bufio.NewReader(resp.Body)
	}
	r := open("")
	first := readEvent(t, r)
	second := readEvent(t, r)
	if first.id != fmt.Sprint(s1) || second.id != fmt.Sprint(s2) || first.event != "io.commsops.operation.running" {
		t.Fatalf("stored: %+v %+v", first, second)
	}
	var ce struct {
		ID   string                   `json:"id"`
		Data events.ResolvedOperation `json:"data"`
	}
	if err := json.Unmarshal([]byte(second.data), &ce); err != nil || ce.Data.Status != events.StatusCompleted || ce.ID == "" {
		t.Fatalf("data %q: %v", second.data, err)
	}
	if quiet := readComment(t, r); !strings.HasPrefix(quiet, ":") {
		t.Fatalf("no keep-alive comment on a quiet stream: %q", quiet)
	}
	s3 := eventstest.EmitResolved(t, js, "cc-sse", "2", "op-2", events.StatusRunning)
	if live := readEvent(t, r); live.id != fmt.Sprint(s3) {
		t.Fatalf("live: %+v", live)
	}
	if resumed := readEvent(t, open(fmt.Sprint(s2))); resumed.id != fmt.Sprint(s3) {
		t.Fatalf("after Last-Event-ID %d: %+v", s2, resumed)
	}
	if n := gauge(t, reg, "commsops_api_open_streams"); n != 2 {
		t.Fatalf("open streams %v, want 2", n)
	}
}

type sseEvent struct{ id, event, data string }

// readComment reads lines up to the next comment line and returns it.
func readComment(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, ":") {
			return line
		}
	}
}

// readEvent reads up to the next SSE message, noting keep-alive comments.
func readEvent(t *testing.T, r *bufio.Reader) sseEvent {
	t.Helper()
	var ev sseEvent
	done := make(chan error, 1)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				done <- err
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			case line == "" && ev.id != "":
				done <- nil
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no event")
	}
	return ev
}

func TestAuthAndResponses(t *testing.T) {
	hs, _, _ := api(t, time.Minute)
	for _, path := range []string{"/v1/operations/x", "/v1/operations/x/events"} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s without token: %d", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/v1/responses", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/responses not delegated: %d", resp.StatusCode)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
