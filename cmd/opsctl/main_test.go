package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/deadletter"
	"github.com/commsops/commsops/internal/demo"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/service/servicetest"
	"github.com/commsops/commsops/internal/stacktest"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

// server runs an embedded server with the pipeline's streams and points
// opsctl at it through NATS_URL.
func server(t *testing.T) (jetstream.JetStream, *streams.Layout) {
	t.Helper()
	srv := natstest.Run(t)
	t.Setenv("NATS_URL", srv.URL())
	_, js := natstest.Connect(t, srv.URL())
	layout, err := streams.Ensure(context.Background(), js, streams.Config{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	return js, layout
}

// opsctl runs one command line to completion.
func opsctl(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustOpsctl runs one command line that must succeed.
func mustOpsctl(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := opsctl(t, args...)
	if err != nil {
		t.Fatalf("opsctl %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, out, errOut)
	}
	return out, errOut
}

// background is a long-running command (tail).
type background struct {
	out, errOut *servicetest.Buffer
	cancel      context.CancelFunc
	done        chan error
}

// startOpsctl starts a long-running command against NATS_URL and returns
// once its consumer of COMMS_RESOLVED exists (tail delivers only what is
// published after that, unless asked otherwise).
func startOpsctl(t *testing.T, args ...string) *background {
	t.Helper()
	_, js := natstest.Connect(t, os.Getenv("NATS_URL"))
	before := stacktest.ResolvedConsumers(t, js)
	b := &background{out: &servicetest.Buffer{}, errOut: &servicetest.Buffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go func() { b.done <- run(ctx, args, b.out, b.errOut) }()
	t.Cleanup(func() { _ = b.stop(t) })
	waitFor(t, "the command to start", func() bool { return strings.Contains(b.errOut.String(), "Ctrl-C stops") })
	waitFor(t, "its consumer", func() bool {
		for n := range stacktest.ResolvedConsumers(t, js) {
			if !before[n] {
				return true
			}
		}
		return false
	})
	return b
}

func (b *background) stop(t *testing.T) error {
	t.Helper()
	b.cancel()
	select {
	case err, ok := <-b.done:
		if ok {
			close(b.done)
		}
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("the command did not stop")
		return nil
	}
}

func (b *background) lines() []string {
	s := strings.TrimSpace(b.out.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var published int

// emit stores a resolved event as the resolver does; returns its sequence.
func emit(t *testing.T, js jetstream.JetStream, cc string, status events.Status) uint64 {
	t.Helper()
	published++
	id := fmt.Sprintf("ev-%d", published)
	e := event.New()
	e.SetID(id)
	e.SetType(subjects.ResolvedType(string(status)))
	e.SetSource(subjects.ResolvedSource("call-1"))
	e.SetSubject(cc)
	e.SetTime(time.Date(2026, 11, 22, 10, 0, published, 0, time.UTC))
	op := events.ResolvedOperation{ClientContext: cc, CallID: "call-1", OperationID: "op-" + id, ODataType: "#microsoft.graph.playPromptOperation",
		Status: status, Sources: []events.Source{}, ResolvedAt: e.Time()}
	if status.Terminal() {
		op.ResultInfo = &events.ResultInfo{Code: 200}
	}
	b, _ := json.Marshal(op)
	_ = e.SetData(events.ContentTypeJSON, b)
	m, err := events.EncodeMsg(events.ResolvedSubject(events.Key(cc), status), e)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.PublishMsg(context.Background(), m, jetstream.WithMsgID(id))
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// TestPipeline runs opsctl against a whole pipeline: tail while demo feeds
// the sample call through the ingest, then get, replay and the dead letters
// of a real resolver.
func TestPipeline(t *testing.T) {
	js, layout := server(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := inbound.Storer{JS: js, Timeout: events.DefaultStoreTimeout}
	h, err := ingest.NewHandler(ingest.Options{Store: store, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	w, err := resolver.NewWorker(ctx, js, layout.State, layout.Partitions, resolver.Config{WorkerID: "w-test"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })

	tail := startOpsctl(t, "tail", "-status", "completed,failed")
	out, _ := mustOpsctl(t, "demo", "-url", ts.URL)
	if !strings.Contains(out, "[12/12] ") || !strings.Contains(out, fmt.Sprintf("fed 12 requests; they resolve to %d events", demo.ExpectedCount())) {
		t.Fatalf("demo printed:\n%s", out)
	}
	terminal := 0
	for _, sts := range demo.Expected {
		for _, st := range sts {
			if st.Terminal() {
				terminal++
			}
		}
	}
	waitFor(t, "tail to print the terminal events", func() bool { return len(tail.lines()) >= terminal })
	time.Sleep(200 * time.Millisecond)
	if err := tail.stop(t); err != nil {
		t.Fatal(err)
	}
	lines := tail.lines()
	if len(lines) != terminal {
		t.Fatalf("tail printed %d lines, want %d:\n%s", len(lines), terminal, tail.out.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, " completed ") && !strings.Contains(l, " failed ") {
			t.Fatalf("tail -status completed,failed printed %q", l)
		}
	}
	// The completion came first in the race: its event precedes the absorbed
	// response, so it does not say race (the state does, see get).
	if !strings.Contains(tail.out.String(), " completed  d45324c1-fcb5-430a-902c-f20af696537c playPrompt op=0fe0623f-") ||
		!strings.Contains(tail.out.String(), " failed     rec-7f3a record op=") {
		t.Fatalf("tail lines:\n%s", tail.out.String())
	}

	t.Run("get", func(t *testing.T) {
		out, _ := mustOpsctl(t, "get", "d45324c1-fcb5-430a-902c-f20af696537c")
		for _, want := range []string{"clientContext d45324c1-fcb5-430a-902c-f20af696537c (key d45324c1-fcb5-430a-902c-f20af696537c): state revision",
			"playPrompt ", "status            completed", "emitted           completed", "raceDetected      true", "  absorbed", "notification", "response"} {
			if !strings.Contains(out, want) {
				t.Errorf("get lacks %q:\n%s", want, out)
			}
		}
		out, _ = mustOpsctl(t, "get", "rec-7f3a", "-json") // flags after the argument too
		var st resolver.KeyState
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Ops) != 1 || st.Ops[0].Status != events.StatusFailed {
			t.Fatalf("get -json: %v\n%s", err, out)
		}
		out, _ = mustOpsctl(t, "get", "-key", events.Key("rec-7f3a"))
		if !strings.Contains(out, "status            failed") {
			t.Fatalf("get -key:\n%s", out)
		}
		_, _, err := opsctl(t, "get", "no such clientContext")
		if err == nil || !strings.Contains(err.Error(), `no state for clientContext "no such clientContext"`) || !strings.Contains(err.Error(), "opsctl replay") {
			t.Fatalf("unknown clientContext: %v", err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		out, errOut := mustOpsctl(t, "replay", "-since", "1", "-cc", "rec-7f3a")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[0], " running ") || !strings.Contains(lines[1], " failed ") {
			t.Fatalf("replay -cc rec-7f3a:\n%s", out)
		}
		if !strings.Contains(errOut, "replayed 2/2: caught up at #") {
			t.Fatalf("replay stderr:\n%s", errOut)
		}
		out, _ = mustOpsctl(t, "replay", "-since", "10m", "-json")
		if n := strings.Count(out, "\n"); n != demo.ExpectedCount() {
			t.Fatalf("replay -since 10m printed %d events, want %d:\n%s", n, demo.ExpectedCount(), out)
		}
	})
	t.Run("dead letters of the resolver", func(t *testing.T) {
		if _, err := js.Publish(ctx, inbound.InSubject(graphwire.KindOperation, "poison"), []byte("not a CloudEvent")); err != nil {
			t.Fatal(err)
		}
		var out string
		waitFor(t, "the resolver to dead-letter the poison", func() bool {
			out, _, _ = opsctl(t, "dlq", "list")
			return strings.Contains(out, "#1 ")
		})
		for _, want := range []string{"from COMMS_IN #", ".op.poison)", "worker w-test", "reason: ", "redrive to: comms.in.op.poison"} {
			if !strings.Contains(out, want) {
				t.Fatalf("dlq list lacks %q:\n%s", want, out)
			}
		}
		out, _ = mustOpsctl(t, "dlq", "redrive", "-seq", "1")
		if !strings.Contains(out, "redrove #1 → COMMS_IN #") {
			t.Fatalf("redrive: %s", out)
		}
		// Still poison: the resolver dead-letters it again, as a new letter.
		waitFor(t, "the second dead letter", func() bool {
			out, _, _ = opsctl(t, "dlq", "list")
			return strings.Contains(out, "#2 ") && !strings.Contains(out, "#1 ")
		})
	})
}

// TestTail: filters (a clientContext with dots, wildcards and spaces gets
// only its own events), JSON lines, and a start from a sequence.
func TestTail(t *testing.T) {
	js, _ := server(t)
	weird := "a.b *> c"
	cases := []struct {
		name    string
		args    []string
		publish func() []string // returns the clientContext/status of what must print
	}{
		{"status and odd clientContext", []string{"-status", "completed", "-cc", weird}, func() []string {
			emit(t, js, weird, events.StatusRunning)
			emit(t, js, "a", events.StatusCompleted)
			emit(t, js, "a.b", events.StatusCompleted)
			emit(t, js, "*", events.StatusCompleted)
			emit(t, js, weird, events.StatusCompleted)
			return []string{strconv.Quote(weird) + " completed"}
		}},
		{"two clientContexts", []string{"-cc", "cc-1", "-cc", "cc-2"}, func() []string {
			emit(t, js, "cc-1", events.StatusRunning)
			emit(t, js, "cc-3", events.StatusRunning)
			emit(t, js, "cc-2", events.StatusFailed)
			return []string{"cc-1 running", "cc-2 failed"}
		}},
		{"statuses", []string{"-status", "notStarted,STALLED"}, func() []string {
			emit(t, js, "cc-4", events.StatusNotStarted)
			emit(t, js, "cc-4", events.StatusRunning)
			emit(t, js, "cc-4", events.StatusStalled)
			return []string{"cc-4 notStarted", "cc-4 stalled"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, asJSON := range []bool{false, true} {
				args := append([]string{"tail"}, tc.args...)
				if asJSON {
					args = append(args, "-json")
				}
				tail := startOpsctl(t, args...)
				want := tc.publish()
				waitFor(t, "the lines", func() bool { return len(tail.lines()) >= len(want) })
				time.Sleep(200 * time.Millisecond)
				if err := tail.stop(t); err != nil {
					t.Fatal(err)
				}
				lines := tail.lines()
				if len(lines) != len(want) {
					t.Fatalf("%q printed:\n%s\nwant %d lines", args, tail.out.String(), len(want))
				}
				for i, l := range lines {
					got := ""
					if asJSON {
						var v struct {
							Seq  uint64
							ID   string
							Type string
							Data events.ResolvedOperation
						}
						if err := json.Unmarshal([]byte(l), &v); err != nil || v.Seq == 0 || v.ID == "" || v.Type != subjects.ResolvedType(string(v.Data.Status)) {
							t.Fatalf("JSON line %q: %v", l, err)
						}
						got = quoteIfNeeded(v.Data.ClientContext) + " " + string(v.Data.Status)
					} else {
						f := strings.Fields(l)
						got = strings.Join(f[3:len(f)-3], " ") + " " + f[2] // "#seq time status cc type op=... id=..."
						if strings.Contains(l, "result=") {
							got = strings.Join(f[3:len(f)-4], " ") + " " + f[2]
						}
					}
					if got != want[i] {
						t.Fatalf("line %d of %q is %q, want %q", i, args, l, want[i])
					}
				}
			}
		})
	}
	t.Run("since a sequence, then live", func(t *testing.T) {
		seq := emit(t, js, "cc-since", events.StatusRunning)
		tail := startOpsctl(t, "tail", "-cc", "cc-since", "-since", strconv.FormatUint(seq, 10))
		emit(t, js, "cc-since", events.StatusCompleted)
		waitFor(t, "both events", func() bool { return len(tail.lines()) == 2 })
		if l := tail.lines(); !strings.HasPrefix(l[0], "#"+strconv.FormatUint(seq, 10)+" ") || !strings.Contains(l[1], " completed ") {
			t.Fatalf("tail -since:\n%s", tail.out.String())
		}
	})
}

// TestReplay: from a sequence, a time or a duration, with filters and
// progress, ending once caught up.
func TestReplay(t *testing.T) {
	js, _ := server(t)
	var seqs []uint64
	for i := 0; i < 7; i++ {
		st := events.StatusCompleted
		if i%3 == 0 {
			st = events.StatusFailed
		}
		seqs = append(seqs, emit(t, js, fmt.Sprintf("cc-%d", i), st))
	}
	cases := []struct {
		name       string
		args       []string
		wantSeqs   []uint64
		wantStderr []string
	}{
		{"since a sequence with progress", []string{"-since", "3", "-progress", "2"}, seqs[2:],
			[]string{"replaying 5 events of COMMS_RESOLVED (since #3)", "replayed 2/5\n", "replayed 4/5\n", "replayed 5/5: caught up at #7"}},
		{"since a sequence, failed only", []string{"-since", "2", "-status", "failed"}, []uint64{seqs[3], seqs[6]},
			[]string{"(status failed, since #2)", "replayed 2/2: caught up at #7"}},
		{"one clientContext", []string{"-since", "1", "-cc", "cc-4"}, []uint64{seqs[4]}, []string{"replayed 1/1"}},
		{"since a duration", []string{"-since", "1h"}, seqs, []string{"replayed 7/7"}},
		{"since a time", []string{"-since", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}, seqs, []string{"replayed 7/7"}},
		{"after the end", []string{"-since", "8"}, nil, []string{"nothing to replay"}},
		{"a time to come", []string{"-since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, nil, []string{"nothing to replay"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, asJSON := range []bool{false, true} {
				args := append([]string{"replay"}, tc.args...)
				if asJSON {
					args = append(args, "-json")
				}
				out, errOut := mustOpsctl(t, args...)
				var got []uint64
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					if l == "" {
						continue
					}
					var seq uint64
					if asJSON {
						var v struct{ Seq uint64 }
						if err := json.Unmarshal([]byte(l), &v); err != nil {
							t.Fatalf("line %q: %v", l, err)
						}
						seq = v.Seq
					} else if _, err := fmt.Sscanf(l, "#%d ", &seq); err != nil {
						t.Fatalf("line %q: %v", l, err)
					}
					got = append(got, seq)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.wantSeqs) {
					t.Fatalf("%q printed %v, want %v:\n%s", args, got, tc.wantSeqs, out)
				}
				for _, w := range tc.wantStderr {
					if !strings.Contains(errOut, w) {
						t.Fatalf("%q stderr lacks %q:\n%s", args, w, errOut)
					}
				}
			}
		})
	}
}

// TestDLQ: list shows the resolver's dead-letter headers; redrive puts the
// original back at its stored subject with its own headers and a fresh
// Nats-Msg-Id, and deletes the dead letter; what cannot be redriven stays.
func TestDLQ(t *testing.T) {
	js, _ := server(t)
	ctx := context.Background()
	in, _ := js.Stream(ctx, events.StreamIn)
	dlq, _ := js.Stream(ctx, events.StreamDeadLetter)

	if _, errOut := mustOpsctl(t, "dlq", "list"); !strings.Contains(errOut, "no dead letters in COMMS_DLQ") {
		t.Fatalf("empty list: %s", errOut)
	}

	// The original as ingest stored it, then dead-lettered as the resolver does.
	key := events.Key("bad cc.*")
	orig := &nats.Msg{Subject: inbound.InSubject(graphwire.KindOperation, key), Data: []byte(`{"broken":`),
		Header: nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"orig-1"}, "X-Original": {"kept"}}}
	origAck, err := js.PublishMsg(ctx, orig, jetstream.WithMsgID("orig-1"))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := in.GetMsg(ctx, origAck.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored.Subject, "comms.in.") || !strings.HasSuffix(stored.Subject, ".op."+key) || stored.Subject == orig.Subject {
		t.Fatalf("stored subject %q", stored.Subject)
	}
	letter := func(storedSubject, stream string) {
		h := nats.Header{}
		for k, v := range stored.Header { // less the direct get's Nats-Stream, Nats-Sequence, ... and Nats-Msg-Id
			if !strings.HasPrefix(k, "Nats-") {
				h[k] = v
			}
		}
		h.Set(deadletter.HeaderMsgID, "orig-1")
		h.Set(deadletter.HeaderReason, "invalid data: unexpected end of JSON input")
		h.Set(deadletter.HeaderStream, stream)
		h.Set(deadletter.HeaderSubject, storedSubject)
		h.Set(deadletter.HeaderSeq, strconv.FormatUint(origAck.Sequence, 10))
		h.Set(deadletter.HeaderDeliveries, "10")
		h.Set(deadletter.HeaderWorker, "w-1")
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: subjects.DeadLetter(events.StreamIn, key), Header: h, Data: stored.Data}); err != nil {
			t.Fatal(err)
		}
	}
	letter(stored.Subject, events.StreamIn)     // #1
	letter("comms.in.garbage", events.StreamIn) // #2: cannot be redriven
	letter(stored.Subject, events.StreamIn)     // #3

	out, _ := mustOpsctl(t, "dlq", "list")
	for _, want := range []string{
		"#1  ", fmt.Sprintf("from COMMS_IN #%d (%s)  deliveries 10  worker w-1  msg-id orig-1", origAck.Sequence, stored.Subject),
		"reason: invalid data: unexpected end of JSON input", "redrive to: " + orig.Subject, "#2  ", "cannot redrive: dead letter #2", "#3  "} {
		if !strings.Contains(out, want) {
			t.Fatalf("dlq list lacks %q:\n%s", want, out)
		}
	}
	out, _ = mustOpsctl(t, "dlq", "list", "-json")
	var first deadLetter
	if err := json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &first); err != nil || first.Seq != 1 || first.Stored != stored.Subject ||
		first.Deliveries != "10" || first.Headers["X-Original"][0] != "kept" || first.Headers[deadletter.HeaderReason] != nil {
		t.Fatalf("dlq list -json: %v\n%s", err, out)
	}

	out, _ = mustOpsctl(t, "dlq", "redrive", "-seq", "1", "-dry-run")
	if !strings.Contains(out, "would redrive #1 → "+orig.Subject) {
		t.Fatalf("dry run: %s", out)
	}
	if info, _ := dlq.Info(ctx); info.State.Msgs != 3 {
		t.Fatalf("the dry run changed COMMS_DLQ: %d messages", info.State.Msgs)
	}

	out, _ = mustOpsctl(t, "dlq", "redrive", "-seq", "1")
	inInfo, _ := in.Info(ctx)
	redriven, err := in.GetMsg(ctx, inInfo.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("redrove #1 → COMMS_IN #%d %s", redriven.Sequence, stored.Subject); !strings.Contains(out, want) {
		t.Fatalf("redrive printed %q, want %q", out, want)
	}
	if redriven.Subject != stored.Subject || string(redriven.Data) != string(stored.Data) {
		t.Fatalf("redriven to %q with %q, want %q with %q", redriven.Subject, redriven.Data, stored.Subject, stored.Data)
	}
	if redriven.Header.Get("X-Original") != "kept" || redriven.Header.Get("ce-id") != "orig-1" {
		t.Fatalf("original headers lost: %v", redriven.Header)
	}
	for k := range redriven.Header {
		if strings.HasPrefix(strings.ToLower(k), "commsops-dlq-") {
			t.Fatalf("dead-letter header %s kept: %v", k, redriven.Header)
		}
	}
	if id := redriven.Header.Get(nats.MsgIdHdr); id == "" || id == "orig-1" {
		t.Fatalf("Nats-Msg-Id %q is not fresh", id)
	}
	if _, err := dlq.GetMsg(ctx, 1); err == nil {
		t.Fatal("dead letter #1 still in COMMS_DLQ")
	}

	// -all: #3 goes, #2 stays and is reported.
	out, errOut, err := opsctl(t, "dlq", "redrive", "-all")
	if err == nil || !strings.Contains(err.Error(), "1 of 2 dead letter(s) not redriven") || !strings.Contains(errOut, "#2 not redriven: dead letter #2: Commsops-Dlq-Subject \"comms.in.garbage\"") {
		t.Fatalf("redrive -all: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "redrove #3 → COMMS_IN #") {
		t.Fatalf("redrive -all printed: %s", out)
	}
	if info, _ := dlq.Info(ctx); info.State.Msgs != 1 {
		t.Fatalf("COMMS_DLQ holds %d messages, want only #2", info.State.Msgs)
	}
	if _, _, err := opsctl(t, "dlq", "redrive", "-seq", "1"); err == nil || !strings.Contains(err.Error(), "no dead letter #1") {
		t.Fatalf("redrive of a gone letter: %v", err)
	}
}

// TestDemo feeds the capture to an ingest over httptest and reports errors
// with what to do.
func TestDemo(t *testing.T) {
	js, _ := server(t)
	store := inbound.Storer{JS: js, Timeout: events.DefaultStoreTimeout}
	h, _ := ingest.NewHandler(ingest.Options{Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	out, _ := mustOpsctl(t, "demo", "-url", ts.URL)
	entries, _ := demo.Capture()
	if strings.Count(out, "  202  ") != len(entries) || !strings.Contains(out, fmt.Sprintf("[%2d/%d] ", len(entries), len(entries))) {
		t.Fatalf("demo printed:\n%s", out)
	}
	in, _ := js.Stream(context.Background(), events.StreamIn)
	if info, _ := in.Info(context.Background()); info.State.Msgs == 0 {
		t.Fatalf("COMMS_IN holds %d messages after the demo", info.State.Msgs)
	}

	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"status":401,"detail":"no bearer token"}`)
	}))
	t.Cleanup(refusing.Close)
	cases := []struct{ name, url, want string }{
		{"nothing listening", "http://" + freeAddr(t), "go run ./cmd/devstack"},
		{"authentication required", refusing.URL, "pass -token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := opsctl(t, "demo", "-url", tc.url, "-timeout", "2s")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q in it", err, tc.want)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestWithoutNATS: with NATS_URL unset and no dev server, opsctl says what to
// do and starts no server of its own.
func TestWithoutNATS(t *testing.T) {
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	t.Setenv("NATS_URL", "")
	t.Setenv("COMMSOPS_DEV_PORT", port)
	for _, args := range [][]string{{"get", "x"}, {"tail"}, {"replay", "-since", "1"}, {"dlq", "list"}, {"dlq", "redrive", "-all"}} {
		_, _, err := opsctl(t, args...)
		want := "no NATS at nats://127.0.0.1:" + port + ": start `go run ./cmd/devstack` or set NATS_URL"
		if err == nil || err.Error() != want {
			t.Fatalf("opsctl %q: %v, want %q", args, err, want)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("opsctl left something listening on %s: %v", addr, err)
	}
	l.Close()

	t.Setenv("NATS_URL", "nats://"+addr)
	t.Setenv("NATS_CONNECT_TIMEOUT", "300ms")
	if _, _, err := opsctl(t, "get", "x"); err == nil || !strings.Contains(err.Error(), "no NATS at nats://"+addr) || !strings.Contains(err.Error(), "check NATS_URL") {
		t.Fatalf("unreachable NATS_URL: %v", err)
	}
}

// TestStreamsMissing: a NATS without the pipeline's streams gets a hint.
func TestStreamsMissing(t *testing.T) {
	srv := natstest.Run(t)
	t.Setenv("NATS_URL", srv.URL())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", "-since", "1"}, "stream COMMS_RESOLVED does not exist on this NATS"},
		{[]string{"dlq", "list"}, "stream COMMS_DLQ does not exist"},
		{[]string{"get", "x"}, "bucket COMMS_OPS does not exist on this NATS: no resolver has run against it yet"},
	} {
		if _, _, err := opsctl(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("opsctl %q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestUsage: -h prints usage (and the variables); misuse is a usage error
// (exit 2) saying what to do.
func TestUsage(t *testing.T) {
	t.Setenv("NATS_URL", "nats://127.0.0.1:1") // nothing below may connect
	help := []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"opsctl tail ", "opsctl get ", "opsctl replay ", "opsctl dlq ", "opsctl demo ", "NATS_URL", "NATS_CREDS", "COMMSOPS_DEV_PORT"}},
		{[]string{"help", "replay"}, []string{"usage: opsctl replay -since", "-progress", "-status", "-cc", "-json"}},
		{[]string{"tail", "-h"}, []string{"usage: opsctl tail", "-since", "-status"}},
		{[]string{"get", "--help"}, []string{"usage: opsctl get", "-key"}},
		{[]string{"dlq", "-h"}, []string{"opsctl dlq list", "opsctl dlq redrive"}},
		{[]string{"dlq", "redrive", "-h"}, []string{"usage: opsctl dlq redrive", "-dry-run", "-all", "fresh"}},
		{[]string{"demo", "-h"}, []string{"usage: opsctl demo", "-url", "-token"}},
	}
	for _, tc := range help {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, _, err := opsctl(t, tc.args...)
			if err != errHelp || exitCode(err, io.Discard) != 0 {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("usage lacks %q:\n%s", w, out)
				}
			}
		})
	}
	misuse := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"tail", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"tail", "extra"}, "tail takes no arguments"},
		{[]string{"tail", "-status", "done"}, `-status "done": the statuses are`},
		{[]string{"tail", "-cc", ""}, `-cc "": not a clientContext`},
		{[]string{"tail", "-since", "yesterday"}, `-since "yesterday": give a stream sequence`},
		{[]string{"replay"}, "replay needs -since"},
		{[]string{"replay", "-since", "0"}, "stream sequences start at 1"},
		{[]string{"replay", "-since", "1", "-progress", "-1"}, "-progress -1"},
		{[]string{"get"}, "get needs one clientContext"},
		{[]string{"get", "a", "b"}, "get needs one clientContext (got 2"},
		{[]string{"dlq"}, "dlq needs a subcommand"},
		{[]string{"dlq", "purge"}, `unknown dlq subcommand "purge"`},
		{[]string{"dlq", "redrive"}, "needs either -seq N or -all"},
		{[]string{"dlq", "redrive", "-seq", "1", "-all"}, "needs either -seq N or -all"},
		{[]string{"dlq", "redrive", "-seq", "x"}, `"x" is not a stream sequence`},
		{[]string{"demo", "-url", "localhost:8080"}, `-url "localhost:8080": give the ingest's base URL`},
	}
	for _, tc := range misuse {
		t.Run(fmt.Sprintf("%q", tc.args), func(t *testing.T) {
			_, _, err := opsctl(t, tc.args...)
			var stderr bytes.Buffer
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err, &stderr) != 2 {
				t.Fatalf("err = %v, want a usage error with %q", err, tc.want)
			}
			if !strings.Contains(stderr.String(), "opsctl -h") {
				t.Fatalf("no pointer to -h: %s", stderr.String())
			}
		})
	}
}
