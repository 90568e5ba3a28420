package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/problem"
	"github.com/commsops/commsops/internal/service"
	"github.com/commsops/commsops/pkg/events"
)

// amplifier is the red-team callback: one item whose array resourceData
// holds resources resources and whose unknown sibling member is pad bytes.
func amplifier(resources, pad int) string {
	var b strings.Builder
	b.WriteString(`{"value":[{"changeType":"updated","resourceUrl":"/communications/calls/c1/operations","x-pad":"`)
	b.WriteString(strings.Repeat("p", pad))
	b.WriteString(`","resourceData":[`)
	for i := 0; i < resources; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"@odata.type":"#microsoft.graph.playPromptOperation","id":"%08d-0000-4000-8000-000000000000","status":"running","clientContext":"cc"}`, i)
	}
	b.WriteString(`]}]}`)
	return b.String()
}

// TestStorageAmplification: the red-team callback (a 200 KB unknown sibling
// and 1,000 resources, 268 KB, once stored as 208 MB) is refused with 413
// before anything is stored, and handling it allocates a bounded amount;
// a Graph-shaped callback of 1,000 resources is stored within StoreBudget.
func TestStorageAmplification(t *testing.T) {
	e := newEnv(t, Options{MaxBodyBytes: 1 << 20})
	attack := amplifier(graphwire.MaxItems, 200<<10)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec := e.post("/v1/notifications", attack)
	runtime.ReadMemStats(&after)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "would store") {
		t.Fatalf("red-team callback of %d bytes: %d %s", len(attack), rec.Code, rec.Body)
	}
	if n := e.stored(t); n != 0 {
		t.Fatalf("%d events stored from a refused callback", n)
	}
	// Allocation while handling it: the body, its copy in the recorder's
	// request and the parse; it used to be the 208 MB of events.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*uint64(len(attack))+(4<<20) {
		t.Fatalf("handling a %d-byte callback allocated %d bytes", len(attack), alloc)
	}

	legit := amplifier(graphwire.MaxItems, 0)
	rec = e.post("/v1/notifications", legit)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("1,000 resources with small siblings: %d %s", rec.Code, rec.Body)
	}
	st := e.streamState(t)
	if st.Msgs != graphwire.MaxItems || st.Bytes > uint64(inbound.StoreBudget(len(legit), graphwire.MaxItems)) {
		t.Fatalf("stored %d events, %d bytes, from %d bytes; budget %d", st.Msgs, st.Bytes, len(legit), inbound.StoreBudget(len(legit), graphwire.MaxItems))
	}
	t.Logf("red team: %d bytes refused, %d allocated; legit: %d bytes stored as %d", len(attack), after.TotalAlloc-before.TotalAlloc, len(legit), st.Bytes)
}

// TestUnstorableIs4xx: input that can never be stored gets a 4xx saying why,
// never 503 (which Graph and bots retry forever), and nothing is stored.
func TestUnstorableIs4xx(t *testing.T) {
	const maxPayload = 64 << 10
	// The handler's body limit is above the server's max_payload, as with
	// a misconfigured INGEST_MAX_BODY_BYTES (cmd/ingest lowers it).
	e := newEnvWith(t, Options{MaxBodyBytes: 1 << 20}, envConfig{server: []natstest.Option{func(o *server.Options) { o.MaxPayload = maxPayload }}})
	op := func(cc string) string { return callback(1, cc) }
	percentCall := strings.Replace(callback(1, "cc"), "/calls/c1/", "/calls/"+strings.Repeat("%", 9<<10)+"/", 1)
	cases := []struct {
		name, route, body string
		header            []string
		want              int
		detail            string
	}{
		{"response over max_payload", "/v1/responses",
			`{"callId":"c","action":"playPrompt","clientContext":"x","httpStatus":202,"operation":null,"pad":"` + strings.Repeat("x", maxPayload) + `"}`,
			nil, 413, "max_payload"},
		{"9 KB call id of %", "/v1/notifications", percentCall, nil, 400, "call id"},
		{"message id of 22 KB", "/v1/notifications", op("cc"), []string{"X-Microsoft-Skype-Message-ID", strings.Repeat("m", 22<<10)}, 400, "message id"},
		{"message id not UTF-8", "/v1/notifications", op("cc"), []string{"X-Microsoft-Skype-Message-ID", "m\xff"}, 400, "UTF-8"},
		{"call id of 9 KB in a response", "/v1/responses",
			`{"callId":"` + strings.Repeat("%", 9<<10) + `","action":"playPrompt","clientContext":"x","httpStatus":202,"operation":null}`, nil, 400, "call id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.post(tc.route, tc.body, tc.header...)
			var p problem.Details
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("%d, not problem+json: %s", rec.Code, rec.Body)
			}
			if rec.Code != tc.want || !strings.Contains(p.Detail, tc.detail) || rec.Header().Get("Retry-After") != "" {
				t.Fatalf("%d %+v, want %d with %q and no Retry-After", rec.Code, p, tc.want, tc.detail)
			}
			if len(rec.Body.String()) > 1024 {
				t.Fatalf("answer of %d bytes echoes the input", rec.Body.Len())
			}
		})
	}
	if n := e.stored(t); n != 0 {
		t.Fatalf("%d events stored by refused requests", n)
	}

	// A traceparent that is not one (here not even UTF-8) is ignored, as
	// W3C trace context says; a valid one is carried.
	for _, tc := range []struct{ tp, want string }{
		{"00-\xff\xfe-bad", ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	} {
		before := e.stored(t)
		rec := e.post("/v1/notifications", op(fmt.Sprintf("tp-%d", before)), "traceparent", tc.tp)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("traceparent %q: %d %s", tc.tp, rec.Code, rec.Body)
		}
		stream, err := e.js.Stream(t.Context(), events.StreamIn)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := stream.GetLastMsgForSubject(t.Context(), events.SubjectInPrefix+">")
		if err != nil {
			t.Fatal(err)
		}
		if got := msg.Header.Get("ce-" + events.ExtTraceParent); got != tc.want {
			t.Fatalf("traceparent %q stored as %q, want %q", tc.tp, got, tc.want)
		}
	}
}

// TestAuthBeforeBody: an unauthenticated request is refused from its
// headers without reading a byte of its body, and its answer comes at once
// even when the body trickles in slowly (it used to wait for ReadTimeout).
func TestAuthBeforeBody(t *testing.T) {
	e := newEnv(t, Options{NotificationAuth: AuthenticatorFunc(func(r *http.Request) error {
		return errors.New("no bearer token")
	})})

	t.Run("no body byte read", func(t *testing.T) {
		body := &countingReader{r: strings.NewReader(callback(1, "cc"))}
		req := httptest.NewRequest(http.MethodPost, "/v1/notifications", body)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || body.n.Load() != 0 {
			t.Fatalf("%d after reading %d body bytes", rec.Code, body.n.Load())
		}
		if rec.Header().Get("Connection") != "close" {
			t.Fatal("a refusal before the body keeps the connection, so the server drains the body first")
		}
	})

	t.Run("slow body over TCP", func(t *testing.T) {
		limits := service.DefaultHTTPLimits
		limits.ReadTimeout = time.Minute // the old code answered only when this expired
		srv := service.NewHTTPServerWithLimits("127.0.0.1:0", e.h, slog.New(slog.NewTextHandler(io.Discard, nil)), limits)
		addr, _, err := service.Serve(srv)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		conn, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "POST /v1/notifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"va")
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer while the body trickles: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
			t.Fatalf("status %d, close %v", resp.StatusCode, resp.Close)
		}
	})
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// lockedBuffer is a log sink safe for the handler's goroutines.
type lockedBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newLockedBuffer() *lockedBuffer { return &lockedBuffer{mu: make(chan struct{}, 1)} }

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// TestRejectionsSampled: a flood of rejected requests is counted one by one
// in commsops_ingest_rejected_total and logged at most once per reason per
// interval, the next line carrying how many were left out.
func TestRejectionsSampled(t *testing.T) {
	logs := newLockedBuffer()
	reg := prometheus.NewRegistry()
	e := newEnv(t, Options{Registry: reg, Log: slog.New(slog.NewJSONHandler(logs, nil)),
		NotificationAuth: AuthenticatorFunc(func(r *http.Request) error { return errors.New("bad token") })})
	now := time.Unix(1000, 0)
	e.h.rj.now = func() time.Time { return now }
	for range 100 {
		if rec := e.post("/v1/notifications", `{}`); rec.Code != http.StatusUnauthorized {
			t.Fatalf("%d", rec.Code)
		}
	}
	if n := counterValue(t, reg, "commsops_ingest_rejected_total", "reason", reasonUnauthorized); n != 100 {
		t.Fatalf("counted %v rejections, want 100", n)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines for 100 rejections in one interval:\n%s", n, logs)
	}
	now = now.Add(rejectLogEvery)
	e.post("/v1/notifications", `{}`)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var last struct {
		Msg        string `json:"msg"`
		Reason     string `json:"reason"`
		Suppressed int    `json:"suppressed"`
	}
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &last) != nil || last.Suppressed != 99 || last.Reason != reasonUnauthorized {
		t.Fatalf("after the interval: %d lines, last %+v", len(lines), last)
	}
}

// TestNoLongEcho: an authenticated response whose httpStatus has 500,000
// digits is refused with an answer and a log line that quote a short prefix
// of it, not all of it.
func TestNoLongEcho(t *testing.T) {
	logs := newLockedBuffer()
	e := newEnv(t, Options{Log: slog.New(slog.NewJSONHandler(logs, nil))})
	digits := strings.Repeat("9", 500_000)
	for _, body := range []string{
		`{"callId":"c","action":"playPrompt","clientContext":"x","httpStatus":` + digits + `,"operation":null}`,
		`{"callId":"c","action":"playPrompt","clientContext":"x","httpStatus":202,"operation":{"id":"o","status":"` + digits + `"}}`,
		`{"callId":"c","action":"playPrompt","clientContext":"x","httpStatus":202,"operation":{"id":"o","resultInfo":{"code":"` + digits + `"}}}`,
	} {
		rec := e.post("/v1/responses", body)
		if rec.Code != http.StatusBadRequest || rec.Body.Len() > 1024 || strings.Contains(rec.Body.String(), digits[:300]) {
			t.Fatalf("%d, %d bytes: %.300s", rec.Code, rec.Body.Len(), rec.Body)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if len(line) > 1024 {
			t.Fatalf("a log line of %d bytes: %.300s", len(line), line)
		}
	}
}

// TestReadyzHidesDetail: /readyz says 503 without the internal reason, which
// goes to the log instead.
func TestReadyzHidesDetail(t *testing.T) {
	const detail = "nats: stream COMMS_IN on 10.1.2.3:4222 account SYS"
	logs := newLockedBuffer()
	e := newEnv(t, Options{Log: slog.New(slog.NewJSONHandler(logs, nil))})
	e.h.opts.Ready = func(context.Context) error { return errors.New(detail) }
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "10.1.2.3") || strings.Contains(rec.Body.String(), "nats:") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), detail) {
		t.Fatalf("the reason was not logged: %s", logs)
	}
}

// TestDuplicateMembersRefused: a field named twice in two casings has two
// meanings for two readers; the ingest refuses it and stores nothing.
func TestDuplicateMembersRefused(t *testing.T) {
	e := newEnv(t, Options{})
	dupOp := strings.Replace(callback(1, "victim-cc"), `"clientContext":"victim-cc"`, `"clientContext":"victim-cc","ClientContext":"other-cc"`, 1)
	dupStatus := strings.Replace(callback(1, "cc"), `"status":"running"`, `"status":"running","Status":"failed"`, 1)
	for name, tc := range map[string]struct{ route, body string }{
		"operation clientContext": {"/v1/notifications", dupOp},
		"operation status":        {"/v1/notifications", dupStatus},
		"envelope clientContext":  {"/v1/responses", `{"callId":"c","action":"playPrompt","clientContext":"a","ClientContext":"b","httpStatus":202,"operation":null}`},
	} {
		t.Run(name, func(t *testing.T) {
			rec := e.post(tc.route, tc.body)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "duplicate") {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
	if n := e.stored(t); n != 0 {
		t.Fatalf("%d stored", n)
	}
}

// counterValue returns the value of the counter name whose label has value.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// BenchmarkRequestMemory reports the bytes allocated per request (B/op) for
// the red-team callback (refused) and for the largest a Graph-shaped
// callback gets: 1,000 resources of 1 KiB in one item, about 1 MiB.
func BenchmarkRequestMemory(b *testing.B) {
	for _, bc := range []struct {
		name, body string
		want       int
	}{
		{"red team refused", amplifier(graphwire.MaxItems, 200<<10), http.StatusRequestEntityTooLarge},
		{"1000 resources of 1 KiB", amplifierResources(graphwire.MaxItems, 880), http.StatusAccepted},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnvWith(b, Options{}, envConfig{}).h
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/notifications", strings.NewReader(bc.body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				if rec.Code != bc.want {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// amplifierResources is amplifier with resources padded to about pad bytes each.
func amplifierResources(resources, pad int) string {
	return strings.ReplaceAll(amplifier(resources, 0), `"clientContext":"cc"}`, `"clientContext":"cc","recordingLocation":"`+strings.Repeat("r", pad)+`"}`)
}
