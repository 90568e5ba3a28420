package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/problem"
	"github.com/commsops/commsops/internal/service"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

type env struct {
	srv   *natstest.Server
	proxy *natstest.Proxy     // between the handler's publisher and srv, when asked for
	js    jetstream.JetStream // straight to srv: what is stored, whatever the proxy does
	h     *Handler
}

// envConfig adjusts newEnvWith: the server's options, and whether the
// handler reaches the server through a natstest.Proxy.
type envConfig struct {
	server []natstest.Option
	proxy  bool
}

func newEnv(t *testing.T, o Options) *env { return newEnvWith(t, o, envConfig{}) }

func newEnvWith(t testing.TB, o Options, c envConfig) *env {
	t.Helper()
	e := &env{srv: natstest.Run(t, c.server...)}
	_, e.js = natstest.Connect(t, e.srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := streams.Ensure(ctx, e.js, streams.Config{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	pubJS := e.js
	if c.proxy {
		e.proxy = natstest.NewProxy(t, e.srv.URL())
		_, pubJS = natstest.Connect(t, e.proxy.URL())
	}
	o.Store, o.Ready = inbound.Storer{JS: pubJS, Timeout: events.DefaultStoreTimeout}, streams.Writable(pubJS)
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := NewHandler(o)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

func (e *env) stored(t *testing.T) uint64 {
	t.Helper()
	return e.streamState(t).Msgs
}

func (e *env) streamState(t *testing.T) jetstream.StreamState {
	t.Helper()
	s, err := e.js.Stream(context.Background(), events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// post serves one request with a JSON body and optional extra headers
// (name, value pairs).
func (e *env) post(route, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, route, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func callback(items int, cc string) string {
	var b strings.Builder
	b.WriteString(`{"value":[`)
	for i := 0; i < items; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"changeType":"updated","resourceUrl":"/communications/calls/c1/operations/%08d-0000-4000-8000-000000000000","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"%08d-0000-4000-8000-000000000000","status":"running","clientContext":%q}}`, i, i, cc)
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestLimits: every limit answers with its status and a problem+json detail,
// and stores nothing.
func TestLimits(t *testing.T) {
	e := newEnv(t, Options{MaxBodyBytes: 1 << 20})
	deep := strings.Repeat(`{"a":`, graphwire.MaxJSONDepth+5) + "1" + strings.Repeat("}", graphwire.MaxJSONDepth+5)
	cases := []struct {
		name, route, ctype, body string
		want                     int
		detail                   string
	}{
		{"body over the limit", "/v1/notifications", "application/json", `{"value":[],"pad":"` + strings.Repeat("x", 1100<<10) + `"}`, 413, "over"},
		{"no content type", "/v1/notifications", "", `{"value":[]}`, 415, "not JSON"},
		{"text/plain", "/v1/responses", "text/plain", `{}`, 415, "not JSON"},
		{"too many resources", "/v1/notifications", "application/json", callback(graphwire.MaxItems+1, "cc"), 413, "too many"},
		{"nested too deeply", "/v1/notifications", "application/json", `{"value":[],"x":` + deep + `}`, 400, "deep"},
		{"control character in clientContext", "/v1/notifications", "application/json", strings.Replace(callback(1, "PLACEHOLDER"), "PLACEHOLDER", `a\u0007b`, 1), 400, "control"},
		{"clientContext of 257 characters", "/v1/responses", "application/json",
			`{"callId":"c","action":"playPrompt","clientContext":"` + strings.Repeat("é", 257) + `","httpStatus":202,"operation":null}`, 400, "too long"},
		{"invalid UTF-8 in clientContext", "/v1/responses", "application/json",
			"{\"callId\":\"c\",\"action\":\"playPrompt\",\"clientContext\":\"\xff\",\"httpStatus\":202,\"operation\":null}", 400, "UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.route, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			var p problem.Details
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("not problem+json: %v %s", err, rec.Body)
			}
			if p.Status != tc.want || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("problem %+v, want detail containing %q", p, tc.detail)
			}
		})
	}
	if n := e.stored(t); n != 0 {
		t.Fatalf("%d messages stored by rejected requests", n)
	}
	t.Run("within the limits", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/v1/notifications", strings.NewReader(callback(graphwire.MaxItems, "cc")))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("%d: %s", rec.Code, rec.Body)
		}
		if n := e.stored(t); n != graphwire.MaxItems {
			t.Fatalf("%d stored, want %d", n, graphwire.MaxItems)
		}
	})
}

// TestUnauthenticated: 401 problem+json that names what failed and never
// echoes the credential; nothing stored.
func TestUnauthenticated(t *testing.T) {
	const secret = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2ln"
	e := newEnv(t, Options{NotificationAuth: AuthenticatorFunc(func(r *http.Request) error {
		return errors.New("token expired")
	})})
	req := httptest.NewRequest(http.MethodPost, "/v1/notifications", strings.NewReader(callback(1, "cc")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "token expired") || strings.Contains(rec.Body.String(), secret) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if e.stored(t) != 0 {
		t.Fatal("stored an unauthenticated request")
	}
}

// TestSlowAndGreedyClients: a client that never finishes its headers is cut
// off at ReadHeaderTimeout; oversized headers get 431.
func TestSlowAndGreedyClients(t *testing.T) {
	e := newEnv(t, Options{})
	limits := service.DefaultHTTPLimits
	limits.ReadHeaderTimeout = 200 * time.Millisecond
	limits.MaxHeaderBytes = 4 << 10
	srv := service.NewHTTPServerWithLimits("127.0.0.1:0", e.h, slog.New(slog.NewTextHandler(io.Discard, nil)), limits)
	addr, _, err := service.Serve(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	t.Run("slow headers", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "POST /v1/notifications HTTP/1.1\r\nHost: x\r\n") // never finished
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		_, err = bufio.NewReader(conn).ReadString('\n')
		if err == nil || time.Since(start) > 3*time.Second {
			// The server answers 408 or closes; either way it does not wait for us.
			if err == nil && time.Since(start) <= 3*time.Second {
				return
			}
			t.Fatalf("server held a slow client for %v (err %v)", time.Since(start), err)
		}
	})
	t.Run("huge headers", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr.String()+"/v1/notifications", strings.NewReader(`{"value":[]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Pad", strings.Repeat("x", 16<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// TestStoreFailureIs503: with the broker frozen (connection open, nothing
// answered) the answer is exactly 503 + Retry-After and nothing is stored;
// after it thaws, Graph's retry stores each resource exactly once.
func TestStoreFailureIs503(t *testing.T) {
	// 200 resources: enough that a partial store would show, few enough that
	// a retry on a loaded CI machine (-race, other tests) fits in StoreTimeout.
	const items = 200
	e := newEnvWith(t, Options{StoreTimeout: time.Second}, envConfig{proxy: true})
	body := callback(items, "cc-partial")
	e.proxy.Freeze()
	first := e.post("/v1/notifications", body)
	if first.Code != http.StatusServiceUnavailable || first.Header().Get("Retry-After") == "" {
		t.Fatalf("with the broker frozen: %d, Retry-After %q: %s", first.Code, first.Header().Get("Retry-After"), first.Body)
	}
	var p problem.Details
	if err := json.Unmarshal(first.Body.Bytes(), &p); err != nil || p.Type != problem.Unavailable {
		t.Fatalf("problem %+v (%v)", p, err)
	}
	if n := e.stored(t); n != 0 {
		t.Fatalf("%d messages stored while the broker was frozen", n)
	}
	e.proxy.Thaw()
	// Graph retries until a 2xx; each retry stores what the last one missed.
	deadline := time.Now().Add(60 * time.Second)
	for again := e.post("/v1/notifications", body); again.Code != http.StatusAccepted; again = e.post("/v1/notifications", body) {
		if again.Code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("retry after the thaw: %d %s", again.Code, again.Body)
		}
	}
	if n := e.stored(t); n != items {
		t.Fatalf("%d messages stored after the retry, want exactly %d", n, items)
	}
}
