package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/service/servicetest"
	"github.com/commsops/commsops/internal/stacktest"
)

const opID = "0fe0623f-d628-42ed-b4bd-8ac290072cc5"

// fakeGraph answers answer and playPrompt as Graph does and posts the
// prompt's completion to the ingest: before the action's HTTP response (the
// race) when race is set, else when release is closed.
type fakeGraph struct {
	ingest  string
	race    bool
	release chan struct{}
}

func (g *fakeGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/answer"):
		w.WriteHeader(http.StatusAccepted)
	case strings.HasSuffix(r.URL.Path, "/playPrompt"):
		var req struct {
			ClientContext string `json:"clientContext"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		complete := func() {
			body := fmt.Sprintf(`{"value":[{"changeType":"deleted","resourceUrl":"/communications/calls/call-1/operations/%s",
				"resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":%q,"status":"completed","clientContext":%q,
				"resultInfo":{"code":200,"subcode":0,"message":"Action completed successfully."}}}]}`, opID, opID, req.ClientContext)
			resp, err := http.Post(g.ingest+"/v1/notifications", "application/json", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
			}
		}
		if g.race {
			complete()
		} else {
			go func() { <-g.release; complete() }()
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"@odata.type":"#microsoft.graph.playPromptOperation","id":%q,"status":"running","clientContext":%q}`, opID, req.ClientContext)
	default:
		http.NotFound(w, r)
	}
}

func startGraph(t *testing.T, g *fakeGraph) string {
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1.0"
}

// TestBotRace: the prompt's completion reaches the ingest before Graph's
// answer to playPrompt; the bot still gets its result, and its client
// stored the action response by itself.
func TestBotRace(t *testing.T) {
	st := stacktest.Run(t, resolver.Config{})
	graphURL := startGraph(t, &fakeGraph{ingest: st.IngestURL, race: true})
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, config{GraphURL: graphURL, NATSURL: st.NATSURL, CallbackURL: st.IngestURL, CallID: "call-1", Timeout: 30 * time.Second}, &out); err != nil {
		t.Fatalf("bot: %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`playPrompt [0-9a-f]{32}: completed \(result 200`).MatchString(out.String()) {
		t.Fatalf("printed:\n%s", out.String())
	}
	// The captured response reached the resolver: the state records both
	// pieces of evidence of the operation.
	cc := regexp.MustCompile(`clientContext ([0-9a-f]{32})`).FindStringSubmatch(out.String())[1]
	servicetest.WaitFor(t, "the response in COMMS_IN", func() error {
		s, err := st.JS.Stream(ctx, "COMMS_IN")
		if err != nil {
			return err
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter("comms.in.>"))
		if err != nil {
			return err
		}
		n := 0
		for subj, c := range info.State.Subjects {
			if strings.Contains(subj, ".op.") {
				n += int(c)
			}
		}
		if n < 2 {
			return fmt.Errorf("%d operation events stored for %s, want the notification and the response", n, cc)
		}
		return nil
	})
}

// TestBotSecondReplica: the replica that sent the action dies before the
// result; another replica, started later, awaits the same clientContext and
// gets it.
func TestBotSecondReplica(t *testing.T) {
	st := stacktest.Run(t, resolver.Config{})
	g := &fakeGraph{ingest: st.IngestURL, release: make(chan struct{})}
	graphURL := startGraph(t, g)
	first := &servicetest.Buffer{}
	ctx, kill := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{GraphURL: graphURL, NATSURL: st.NATSURL, CallbackURL: st.IngestURL, CallID: "call-1", Timeout: time.Minute}, first)
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
	close(g.release) // the result arrives while no replica awaits
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
