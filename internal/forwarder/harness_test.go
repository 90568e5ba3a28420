package forwarder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service/servicetest"
	"github.com/commsops/commsops/internal/stacktest"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// waitLimit bounds every wait for a condition.
const waitLimit = 30 * time.Second

// waitFor polls cond every 10ms until it holds, and fails t with what when
// waitLimit passes first.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// env is a JetStream server with the commsops streams.
type env struct {
	srv *natstest.Server
	js  jetstream.JetStream
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv, js := stacktest.Streams(t)
	return &env{srv: srv, js: js}
}

// stored is one published resolved event.
type stored struct {
	seq     uint64
	key     string
	subject string
	msg     *nats.Msg
	ev      event.Event
}

// resolvedEvent builds a resolved event as the resolver stores it.
func resolvedEvent(t testing.TB, clientContext, opID string, status events.Status) event.Event {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join("testdata", "resolved.json"))
	if err != nil {
		t.Fatal(err)
	}
	data := strings.NewReplacer("CLIENT_CONTEXT", clientContext, "OPERATION_ID", opID, "STATUS", string(status)).Replace(string(bytes.TrimSpace(tmpl)))
	e := event.New()
	e.SetID(eventID(opID, status))
	e.SetType(subjects.ResolvedType(string(status)))
	e.SetSource(subjects.ResolvedSource("57dab8b1-894c-409a-b240-bd8beae78896"))
	e.SetSubject(clientContext)
	e.SetTime(time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC))
	e.SetExtension(events.ExtTraceParent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	e.SetExtension(events.ExtCallID, "57dab8b1-894c-409a-b240-bd8beae78896")
	if err := e.SetData(events.ContentTypeJSON, []byte(data)); err != nil {
		t.Fatal(err)
	}
	return e
}

// publish stores a resolved event of clientContext at comms.resolved.<key>.<status>.
func (en *env) publish(t testing.TB, clientContext, opID string, status events.Status) stored {
	t.Helper()
	e := resolvedEvent(t, clientContext, opID, status)
	key := events.Key(clientContext)
	m, err := events.EncodeMsg(events.ResolvedSubject(key, status), e)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := en.js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	return stored{seq: ack.Sequence, key: key, subject: m.Subject, msg: m, ev: e}
}

// testConfig returns a Config for tests: short waits, a fresh registry.
func testConfig(sink string) Config {
	return Config{
		Sink: sink, Durable: "fwd", Timeout: 2 * time.Second, MaxDeliver: 5, Concurrency: 4,
		AckWait: 2 * time.Second, PinnedTTL: 500 * time.Millisecond,
		Backoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, MaxRetryAfter: 5 * time.Second,
		FloorPoll: 50 * time.Millisecond,
	}
}

// replica is one started Forwarder with a connection of its own.
type replica struct {
	f    *Forwarder
	nc   *nats.Conn
	cut  *cutTransport
	logs *servicetest.Buffer
	stop sync.Once
}

// start runs a Forwarder on its own connection; it is stopped (5s) at
// cleanup unless stopped or killed before.
func (en *env) start(t *testing.T, cfg Config) *replica {
	t.Helper()
	nc, js := natstest.Connect(t, en.srv.URL())
	r := &replica{nc: nc, cut: &cutTransport{next: http.DefaultTransport}, logs: &servicetest.Buffer{}}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: r.cut}
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := New(ctx, js, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.f = f
	t.Cleanup(func() {
		r.stop.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = f.Stop(sctx)
		})
	})
	return r
}

// kill ends the replica as a crash does: no request reaches the sink any
// more (the ones in flight complete first), and its connection closes
// without a drain, so nothing more is acked or nak'd.
func (r *replica) kill() {
	r.stop.Do(func() {
		r.cut.cut()
		r.nc.Close()
	})
}

// cutTransport passes requests on until cut; cut waits for the ones in flight.
type cutTransport struct {
	next http.RoundTripper
	mu   sync.RWMutex
	dead bool
}

func (c *cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.dead {
		return nil, errors.New("test: replica killed")
	}
	return c.next.RoundTrip(r)
}

func (c *cutTransport) cut() {
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
}

// request is one request the sink received.
type request struct {
	header http.Header
	body   []byte
	at     time.Time
}

// testSink records every request and answers with answer (default 200).
type testSink struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	// answer decides the answer to a request (0: it wrote it itself);
	// attempt counts the requests with this ce-id so far, this one included.
	answer   func(w http.ResponseWriter, r *http.Request, attempt int) int
	attempts map[string]int
	inFlight atomic.Int64
}

func newTestSink(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, attempt int) int) *testSink {
	s := &testSink{answer: answer, attempts: make(map[string]int)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, request{header: r.Header.Clone(), body: body, at: time.Now()})
		s.attempts[r.Header.Get("Ce-Id")]++
		n := s.attempts[r.Header.Get("Ce-Id")]
		s.mu.Unlock()
		status := http.StatusOK
		if s.answer != nil {
			status = s.answer(w, r, n)
		}
		if status != 0 { // 0: answer wrote the response itself
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// got returns a copy of the requests so far.
func (s *testSink) got() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

// ids returns the ce-id of every request so far, in arrival order.
func (s *testSink) ids() []string {
	var out []string
	for _, r := range s.got() {
		out = append(out, r.header.Get("Ce-Id"))
	}
	return out
}

// consumerSettled reports whether the durable has nothing pending or
// unacknowledged and its ack floor is at least seq.
func (en *env) consumerSettled(t testing.TB, durable string, seq uint64) func() bool {
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := en.js.Consumer(ctx, events.StreamResolved, durable)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Stream >= seq
	}
}

func withSubject(s string) jetstream.GetMsgOpt { return jetstream.WithGetMsgSubject(s) }

func itoa(n uint64) string { return fmt.Sprint(n) }

// statusOf returns the status of the dead-letter cases' subjects.
func statusOf(seq uint64, a stored, junk uint64) events.Status {
	if seq == junk {
		return events.StatusFailed
	}
	return events.StatusRunning
}

// value returns a counter's or gauge's current value.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}

// eventID is the id resolvedEvent gives the event of opID and status.
func eventID(opID string, status events.Status) string { return opID + "-" + status.Token() }
