package graphsim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphauth"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/ingest"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// TestPipelineAgainstSimulator runs the pipeline in process (a real
// embedded JetStream, the ingest with Graph authentication verifying the
// simulator's tokens through its OpenID configuration, as INGEST_AUTH=graph
// does, and a resolver), and a bot whose HTTP client captures its action
// responses (events.CaptureResponses). The bot creates a call and plays a
// prompt under race, duplicate and reorder faults: the completion reaches
// the ingest twice and before the running status and before the action's
// response. COMMS_RESOLVED gets exactly one completed event for the
// clientContext, and never a step back.
func TestPipelineAgainstSimulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log := testLog(t)

	// JetStream and the streams.
	ns := natstest.Run(t)
	_, js := natstest.Connect(t, ns.URL())
	layout, err := streams.Ensure(ctx, js, streams.Config{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := events.NewPublisher(js)
	if err != nil {
		t.Fatal(err)
	}

	// The simulator, and the ingest verifying its tokens as with
	// INGEST_AUTH=graph (cmd/ingest's wiring: graphauth's Verifier on
	// notifications, static bot tokens on responses).
	sim, simTS := startSim(t, Config{Audience: testAudience, Tenant: testTenant, Step: 50 * time.Millisecond,
		Retry: Retry{Count: 5, Backoff: 50 * time.Millisecond}})
	v := newVerifier(t, simTS.URL, testAudience)
	tokens, err := graphauth.NewStaticTokens([]string{"bot-token-0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ingest.NewHandler(ingest.Options{
		Store: inbound.Storer{JS: js, Timeout: events.DefaultStoreTimeout}, Ready: streams.Writable(js), Log: log,
		NotificationAuth: ingest.AuthenticatorFunc(func(r *http.Request) error {
			_, err := v.Verify(r.Context(), r.Header.Get("Authorization"))
			return err
		}),
		ResponseAuth: ingest.AuthenticatorFunc(func(r *http.Request) error { return tokens.Verify(r.Header.Get("Authorization")) }),
	})
	if err != nil {
		t.Fatal(err)
	}
	ingestTS := httptest.NewServer(h)
	t.Cleanup(ingestTS.Close)
	callback := ingestTS.URL + "/v1/notifications"
	if status, _, _ := do(t, http.MethodPost, callback, `{"value":[]}`); status != http.StatusUnauthorized {
		t.Fatalf("the ingest took an unsigned callback (%d): authentication is off", status)
	}

	// The resolver.
	w, err := resolver.NewWorker(ctx, js, layout.State, layout.Partitions, resolver.Config{
		Members: layout.Workers, Heartbeat: 250 * time.Millisecond, AckWait: 2 * time.Second, PinnedTTL: time.Second,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(sctx)
	})

	// The bot: its client stores each action response as evidence.
	bot := &http.Client{Transport: events.CaptureResponses(nil, pub, events.OnCaptureError(func(err error) {
		t.Errorf("capture: %v", err)
	}))}
	post := func(url, body string, hdr ...string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := bot.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(simTS.URL+"/v1.0/communications/calls", fixture(t, "create-call.json", "CALLBACK", callback)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create call: %d", resp.StatusCode)
	}
	callID := sim.CallIDs()[0]
	const cc = "e2e play prompt: race, duplicate, reorder"
	resp := post(simTS.URL+"/v1.0/communications/calls/"+callID+"/playPrompt",
		fixture(t, "playPrompt.json", "CLIENTCONTEXT", cc), HeaderFaults, "race=1,duplicate=1,reorder=1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("playPrompt: %d", resp.StatusCode)
	}

	// The simulator delivered everything, each callback accepted (so
	// stored) by the ingest at the first attempt.
	tr := waitTruth(t, sim, callID, "every callback delivered", func(tr CallTruth) bool {
		if len(tr.Operations) != 1 || !tr.Operations[0].FinalDelivered {
			return false
		}
		ops := 0
		for _, d := range tr.Deliveries {
			if len(d.OperationIDs) > 0 && d.Outcome == OutcomeDelivered {
				ops++
			}
		}
		return ops == 4 // running and completed, each twice
	})
	for _, d := range tr.Deliveries {
		if d.Status != http.StatusAccepted || d.Attempt != 1 {
			t.Errorf("delivery %+v: the ingest refused a signed callback", d)
		}
	}
	if f := tr.Operations[0].Faults; len(f) != 2 || f[0] != FaultRace || f[1] != FaultReorder {
		t.Errorf("operation faults %v", f)
	}

	// The resolver resolves it completed.
	ops, err := events.NewOperations(js)
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	res, err := ops.Await(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != events.StatusCompleted || res.OperationID != tr.Operations[0].ID {
		t.Fatalf("resolved %+v", res)
	}

	// Once the action response is stored and every input consumed, exactly
	// one completed event exists for the clientContext, and nothing else.
	key := events.Key(cc)
	waitFor(t, "the action response stored in COMMS_IN", func() error { return hasResponse(ctx, js, key) })
	waitFor(t, "the resolver consumed every input", func() error { return consumed(ctx, js, layout.Partitions) })
	counts, err := resolvedCounts(ctx, js, key)
	if err != nil {
		t.Fatal(err)
	}
	if counts["completed"] != 1 || len(counts) != 1 {
		t.Fatalf("COMMS_RESOLVED for %q: %v, want exactly one completed event", cc, counts)
	}
}

// waitFor polls probe until it returns nil.
func waitFor(t *testing.T, what string, probe func() error) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		err := probe()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hasResponse returns nil once COMMS_IN holds an action response for key.
func hasResponse(ctx context.Context, js jetstream.JetStream, key string) error {
	oc, err := js.OrderedConsumer(ctx, events.StreamIn, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"comms.in.*.op." + key}})
	if err != nil {
		return err
	}
	for {
		fctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		m, err := oc.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			return errors.New("no action response yet")
		}
		e, err := events.DecodeMsg(m.Headers(), m.Data())
		if err == nil && e.Type() == events.TypeActionResponse {
			return nil
		}
	}
}

// consumed returns nil once the resolver's consumers hold nothing pending
// or unacknowledged.
func consumed(ctx context.Context, js jetstream.JetStream, partitions int) error {
	for p := range partitions {
		c, err := js.Consumer(ctx, events.StreamIn, resolver.ConsumerName(p))
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return errors.New("inputs still pending")
		}
	}
	return nil
}

// resolvedCounts returns how many COMMS_RESOLVED events key has per status.
func resolvedCounts(ctx context.Context, js jetstream.JetStream, key string) (map[string]uint64, error) {
	s, err := js.Stream(ctx, events.StreamResolved)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(events.SubjectResolvedPrefix+key+".>"))
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for subj, n := range info.State.Subjects {
		out[subj[strings.LastIndex(subj, ".")+1:]] += n
	}
	return out, nil
}
