package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphsim"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/service/servicetest"
	"github.com/commsops/commsops/internal/stacktest"
	"github.com/commsops/commsops/pkg/events"
)

// simulator runs the Graph simulator with faults, calling back to the
// pipeline's ingest, and creates a call for the bot to answer.
func simulator(t *testing.T, st *stacktest.Stack, faults string, step time.Duration) (graphURL, callID string) {
	t.Helper()
	f, err := graphsim.ParseFaults(faults)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := graphsim.New(graphsim.Config{CallbackURL: st.IngestURL + "/v1/notifications", Faults: f, Seed: 7, Step: step,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sim.Close(ctx)
		srv.Close()
	})
	graphURL = srv.URL + "/v1.0"
	resp, err := http.Post(graphURL+"/communications/calls", "application/json",
		strings.NewReader(`{"callbackUri":"`+st.IngestURL+`/v1/notifications","requestedModalities":["audio"]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var call struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&call); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create call: %s %v", resp.Status, err)
	}
	return graphURL, call.ID
}

// TestBotRace: the prompt's completion reaches the ingest before Graph's
// answer to playPrompt (the simulator's race fault, with duplicates and
// reordering); the bot still gets its result, and its client stored the
// action response by itself.
func TestBotRace(t *testing.T) {
	st := stacktest.Run(t, resolver.Config{})
	graphURL, callID := simulator(t, st, "race=1,duplicate=1,reorder=1,deleted=1", 20*time.Millisecond)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, config{GraphURL: graphURL, NATSURL: st.NATSURL, CallbackURL: st.IngestURL + "/v1/notifications", CallID: callID, Timeout: 30 * time.Second}, &out); err != nil {
		t.Fatalf("bot: %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`playPrompt [0-9a-f]{32}: completed \(result 200`).MatchString(out.String()) {
		t.Fatalf("printed:\n%s", out.String())
	}
	// The bot's client stored Graph's answer to playPrompt by itself.
	cc := regexp.MustCompile(`clientContext ([0-9a-f]{32})`).FindStringSubmatch(out.String())[1]
	servicetest.WaitFor(t, "the captured response in COMMS_IN", func() error {
		s, err := st.JS.Stream(ctx, events.StreamIn)
		if err != nil {
			return err
		}
		for seq := uint64(1); ; {
			m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject("comms.in.*.op."+events.Key(cc)))
			if err != nil {
				return fmt.Errorf("no action response stored for %s: %w", cc, err)
			}
			if m.Header.Get(events.HeaderType) == events.TypeActionResponse {
				return nil
			}
			seq = m.Sequence + 1
		}
	})
}

// TestBotSecondReplica: the replica that sent the action dies before the
// result; another replica, started later, awaits the same clientContext and
// gets it.
func TestBotSecondReplica(t *testing.T) {
	st := stacktest.Run(t, resolver.Config{})
	// The prompt completes a second after it starts: after the kill below.
	graphURL, callID := simulator(t, st, "none", time.Second)
	first := &servicetest.Buffer{}
	ctx, kill := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{GraphURL: graphURL, NATSURL: st.NATSURL, CallbackURL: st.IngestURL + "/v1/notifications", CallID: callID, Timeout: time.Minute}, first)
	}()
	servicetest.WaitFor(t, "the first replica sent playPrompt", func() error {
		if !strings.Contains(first.String(), "playPrompt sent") {
			return fmt.Errorf("printed %q", first.String())
		}
		return nil
	})
	kill()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the killed replica: %v", err)
	}
	cc := regexp.MustCompile(`clientContext ([0-9a-f]{32})`).FindStringSubmatch(first.String())[1]
	var second bytes.Buffer
	wctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(wctx, config{NATSURL: st.NATSURL, Await: cc, Timeout: 30 * time.Second}, &second); err != nil {
		t.Fatalf("second replica: %v", err)
	}
	if want := "playPrompt " + cc + ": completed (result 200"; !strings.Contains(second.String(), want) {
		t.Fatalf("second replica printed %q, want %q", second.String(), want)
	}
}
