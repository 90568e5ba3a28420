package forwarder

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commsops/commsops/internal/cehdr"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// TestBinaryMode: the sink gets the stored event in HTTP binary content
// mode, with every attribute and extension of the stored event in ce-
// headers, its data as the body, and the bearer token; the event is then
// acked.
func TestBinaryMode(t *testing.T) {
	en := newEnv(t)
	sink := newTestSink(t, nil)
	cfg := testConfig(sink.URL)
	cfg.Token = "s3cret-sink-token"
	en.start(t, cfg)
	cc := "call 1/ctx é" // percent-encoded in NATS headers
	st := en.publish(t, cc, "op-1", events.StatusCompleted)
	waitFor(t, "the sink got the event", func() bool { return len(sink.got()) == 1 })
	r := sink.got()[0]
	stored, err := events.DecodeMsg(st.msg.Header, st.msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Ce-Specversion": "1.0",
		"Ce-Id":          stored.ID(),
		"Ce-Type":        stored.Type(),
		"Ce-Source":      stored.Source(),
		"Content-Type":   events.ContentTypeJSON,
		"Ce-Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"Ce-Callid":      "57dab8b1-894c-409a-b240-bd8beae78896",
		"Authorization":  "Bearer s3cret-sink-token",
	}
	for h, v := range want {
		if got := r.header.Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}
	// The HTTP binding percent-encodes string attributes as the NATS one does.
	if got, err := cehdr.Decode(r.header.Get("Ce-Subject")); err != nil || got != cc {
		t.Errorf("ce-subject %q decodes to %q (%v), want %q", r.header.Get("Ce-Subject"), got, err, cc)
	}
	if got, err := time.Parse(time.RFC3339Nano, r.header.Get("Ce-Time")); err != nil || !got.Equal(stored.Time()) {
		t.Errorf("ce-time %q, want %v", r.header.Get("Ce-Time"), stored.Time())
	}
	if !bytes.Equal(r.body, st.msg.Data) {
		t.Errorf("body %s\nwant %s", r.body, st.msg.Data)
	}
	waitFor(t, "the event acked", en.consumerSettled(t, "fwd", st.seq))
}

// TestStatusFilter: only the configured statuses reach the sink, and the
// consumer filters them on the server.
func TestStatusFilter(t *testing.T) {
	en := newEnv(t)
	sink := newTestSink(t, nil)
	cfg := testConfig(sink.URL)
	cfg.Statuses = []events.Status{"Completed", "failed"}
	r := en.start(t, cfg)
	if got, want := r.f.ConsumerConfig().FilterSubjects, []string{"comms.resolved.*.completed", "comms.resolved.*.failed"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("filters %v, want %v", got, want)
	}
	// One key: the excluded events, if sent, would come before the last one.
	for i, s := range []events.Status{events.StatusNotStarted, events.StatusRunning, events.StatusCompleted, events.StatusStalled, events.StatusRunning, events.StatusFailed} {
		en.publish(t, "ctx-filter", "op-"+string(rune('a'+i)), s)
	}
	last := en.publish(t, "ctx-filter", "op-z", events.StatusCompleted)
	waitFor(t, "the last event", func() bool { return len(sink.got()) >= 3 })
	waitFor(t, "the last event acked", en.consumerSettled(t, "fwd", last.seq))
	var types []string
	for _, r := range sink.got() {
		types = append(types, r.header.Get("Ce-Type"))
	}
	want := []string{"io.commsops.operation.completed", "io.commsops.operation.failed", "io.commsops.operation.completed"}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Fatalf("types %v, want %v", types, want)
	}
}

// TestPerKeyOrder: with several keys, each key's events reach the sink in
// stream order and never two at once, while different keys are delivered
// concurrently, at most Concurrency at a time.
func TestPerKeyOrder(t *testing.T) {
	const keys, perKey, concurrency = 8, 15, 4
	var mu sync.Mutex
	busy := map[string]bool{}
	var overlap, inFlight, maxInFlight int
	sink := newTestSink(t, func(w http.ResponseWriter, r *http.Request, attempt int) int {
		k := r.Header.Get("Ce-Subject")
		mu.Lock()
		if busy[k] {
			overlap++
		}
		busy[k] = true
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		// Hold the request until another key is in flight too (or a while):
		// so deliveries of different keys do overlap when they can.
		deadline := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := inFlight
			mu.Unlock()
			if n > 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		busy[k] = false
		inFlight--
		mu.Unlock()
		return http.StatusNoContent
	})
	en := newEnv(t)
	cfg := testConfig(sink.URL)
	cfg.Concurrency = concurrency
	en.start(t, cfg)
	want := map[string][]string{}
	var last stored
	for i := range perKey {
		for k := range keys {
			cc := "ctx-" + string(rune('a'+k))
			last = en.publish(t, cc, "op-"+string(rune('a'+k))+"-"+string(rune('A'+i)), events.StatusRunning)
			want[cc] = append(want[cc], last.ev.ID())
		}
	}
	waitFor(t, "every event", func() bool { return len(sink.got()) >= keys*perKey })
	waitFor(t, "every event acked", en.consumerSettled(t, "fwd", last.seq))
	got := map[string][]string{}
	for _, r := range sink.got() {
		got[r.header.Get("Ce-Subject")] = append(got[r.header.Get("Ce-Subject")], r.header.Get("Ce-Id"))
	}
	for cc, ids := range want {
		if strings.Join(got[cc], " ") != strings.Join(ids, " ") {
			t.Errorf("%s: got %v\nwant %v", cc, got[cc], ids)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap > 0 {
		t.Errorf("%d deliveries overlapped another of their key", overlap)
	}
	if maxInFlight < 2 || maxInFlight > concurrency {
		t.Errorf("at most %d deliveries at once, want 2..%d", maxInFlight, concurrency)
	}
}

// TestRetries: a 429 or 503 is retried after its Retry-After; a 500 and a
// timeout are retried with a growing backoff; the key's next event waits
// for the retried one.
func TestRetries(t *testing.T) {
	cases := []struct {
		name   string
		answer func(w http.ResponseWriter, attempt int) int // for the first event
		fails  int                                          // failed attempts before the success
		gaps   []time.Duration                              // at least, between attempts
		reason string
	}{
		{"429 with Retry-After seconds", func(w http.ResponseWriter, attempt int) int {
			if attempt == 1 {
				w.Header().Set("Retry-After", "1")
				return http.StatusTooManyRequests
			}
			return http.StatusOK
		}, 1, []time.Duration{time.Second}, "retry_after"},
		{"503 with Retry-After date", func(w http.ResponseWriter, attempt int) int {
			if attempt == 1 {
				w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		}, 1, []time.Duration{time.Second}, "retry_after"},
		{"500", func(w http.ResponseWriter, attempt int) int {
			if attempt <= 3 {
				return http.StatusInternalServerError
			}
			return http.StatusAccepted
		}, 3, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}, "status"},
		{"redirect is not followed", func(w http.ResponseWriter, attempt int) int {
			if attempt == 1 {
				w.Header().Set("Location", "/elsewhere") // would answer 200 to a GET
				return http.StatusFound
			}
			return http.StatusOK
		}, 1, []time.Duration{50 * time.Millisecond}, "status"},
		{"timeout", func(w http.ResponseWriter, attempt int) int {
			if attempt <= 2 {
				time.Sleep(600 * time.Millisecond) // over the 300ms timeout
			}
			return http.StatusOK
		}, 2, []time.Duration{300 * time.Millisecond, 350 * time.Millisecond}, "timeout"}, // the timeout, then the backoff (less the request's own latency)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			en := newEnv(t)
			first := eventID("op-1", events.StatusRunning) // set before the sink can be called
			sink := newTestSink(t, func(w http.ResponseWriter, r *http.Request, attempt int) int {
				if r.Header.Get("Ce-Id") == first {
					return tc.answer(w, attempt)
				}
				return http.StatusOK
			})
			cfg := testConfig(sink.URL)
			cfg.Timeout = 300 * time.Millisecond
			reg := prometheus.NewRegistry()
			cfg.Registerer = reg
			r := en.start(t, cfg)
			a := en.publish(t, "ctx-retry", "op-1", events.StatusRunning)
			b := en.publish(t, "ctx-retry", "op-1", events.StatusCompleted)
			waitFor(t, "both events acked", en.consumerSettled(t, "fwd", b.seq))
			reqs := sink.got()
			var ids []string
			for _, r := range reqs {
				ids = append(ids, r.header.Get("Ce-Id"))
			}
			wantIDs := append(strings.Split(strings.Repeat(a.ev.ID()+" ", tc.fails+1), " ")[:tc.fails+1], b.ev.ID())
			if strings.Join(ids, " ") != strings.Join(wantIDs, " ") {
				t.Fatalf("requests %v, want %v", ids, wantIDs)
			}
			for i, gap := range tc.gaps {
				if d := reqs[i+1].at.Sub(reqs[i].at); d < gap {
					t.Errorf("attempt %d came %v after the one before, want at least %v", i+2, d, gap)
				}
			}
			if got := value(r.f.m.retried.WithLabelValues(tc.reason)); got != float64(tc.fails) {
				t.Errorf("retried{reason=%s} = %v, want %d", tc.reason, got, tc.fails)
			}
			if got := value(r.f.m.delivered); got != 2 {
				t.Errorf("delivered = %v, want 2", got)
			}
		})
	}
}

// TestDeadLetter: an event that fails MaxDeliver deliveries is copied to
// COMMS_DLQ with the resolver's dead-letter headers and acked, and its key
// goes on; a message that is not a CloudEvent goes there at once.
func TestDeadLetter(t *testing.T) {
	en := newEnv(t)
	bad := eventID("op-1", events.StatusRunning) // set before the sink can be called
	sink := newTestSink(t, func(w http.ResponseWriter, r *http.Request, attempt int) int {
		if r.Header.Get("Ce-Id") == bad {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	cfg := testConfig(sink.URL)
	cfg.MaxDeliver = 3
	r := en.start(t, cfg)
	a := en.publish(t, "ctx-dlq", "op-1", events.StatusRunning)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	junk, err := en.js.Publish(ctx, events.ResolvedSubject(a.key, events.StatusFailed), []byte(`not a cloudevent`))
	if err != nil {
		t.Fatal(err)
	}
	b := en.publish(t, "ctx-dlq", "op-1", events.StatusCompleted)
	waitFor(t, "every event settled", en.consumerSettled(t, "fwd", b.seq))
	if got, want := strings.Join(sink.ids(), " "), strings.Join([]string{bad, bad, bad, b.ev.ID()}, " "); got != want {
		t.Fatalf("requests %s, want %s", got, want)
	}
	dlq, err := en.js.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	subject := subjects.DeadLetter(events.StreamResolved, a.key)
	cases := []struct {
		name   string
		seq    uint64
		data   []byte
		reason string
		tries  string
	}{
		{"deliveries exhausted", a.seq, a.msg.Data, "status 400", "3"},
		{"not a CloudEvent", junk.Sequence, []byte(`not a cloudevent`), "not a CloudEvent", "1"},
	}
	from := uint64(1)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := dlq.GetMsg(ctx, from, withSubject(subject))
			if err != nil {
				t.Fatal(err)
			}
			from = m.Sequence + 1
			if !bytes.Equal(m.Data, tc.data) {
				t.Errorf("data %q, want %q", m.Data, tc.data)
			}
			for h, want := range map[string]string{
				"Commsops-Dlq-Stream": events.StreamResolved, "Commsops-Dlq-Subject": events.ResolvedSubject(a.key, statusOf(tc.seq, a, junk.Sequence)),
				"Commsops-Dlq-Stream-Seq": itoa(tc.seq), "Commsops-Dlq-Deliveries": tc.tries, "Commsops-Dlq-Worker": r.f.cfg.WorkerID,
			} {
				if got := m.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if reason := m.Header.Get("Commsops-Dlq-Reason"); !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not say %q", reason, tc.reason)
			}
			if tc.seq == a.seq && m.Header.Get("ce-id") != a.ev.ID() {
				t.Errorf("the copy lost its ce- headers: %v", m.Header)
			}
		})
	}
	if got := value(r.f.m.deadLettered); got != 2 {
		t.Errorf("deadlettered = %v, want 2", got)
	}
}
