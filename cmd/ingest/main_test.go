package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service/servicetest"
)

// callback is a notification callback the ingest stores.
const callback = `{"value":[{"changeType":"deleted","resourceUrl":"/communications/calls/c1/operations/0fe0623f-d628-42ed-b4bd-8ac290072cc5","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5","status":"completed","clientContext":"x"}}]}`

func runBinary(ctx context.Context) error { return run(ctx, nil) }

// TestRunStoresAndShutsDown: the binary's run stores a callback (202) and on
// SIGTERM finishes in-flight requests and returns within its deadline.
func TestRunStoresAndShutsDown(t *testing.T) {
	srv := natstest.Run(t)
	addr := servicetest.FreeAddr(t)
	setEnv(t, srv.URL(), addr, "COMMSOPS_SHUTDOWN_TIMEOUT", "5s")
	p := servicetest.Start(t, runBinary)
	servicetest.WaitFor(t, "never stored", servicetest.HTTP(http.MethodPost, "http://"+addr+"/v1/notifications", callback, http.StatusAccepted))
	if _, err := p.Stop(t, 7*time.Second); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestGraphAuthNeedsAudience: the default graph auth refuses to start without
// INGEST_JWT_AUDIENCE, with a message that says what to set.
func TestGraphAuthNeedsAudience(t *testing.T) {
	srv := natstest.Run(t)
	setEnv(t, srv.URL(), "", "INGEST_AUTH", "", "INGEST_JWT_AUDIENCE", "")
	err := run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "INGEST_") {
		t.Fatalf("err = %v", err)
	}
}

// TestGraphAuthStartupChecks: graph auth refuses to start without response
// tokens or with an unreachable OpenID configuration, saying what to fix.
func TestGraphAuthStartupChecks(t *testing.T) {
	srv := natstest.Run(t)
	setEnv(t, srv.URL(), "", "INGEST_AUTH", "graph", "INGEST_JWT_AUDIENCE", "bot-app", "INGEST_RESPONSE_TOKENS", "")
	if err := run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "INGEST_RESPONSE_TOKENS") {
		t.Fatalf("without response tokens: %v", err)
	}
	t.Setenv("INGEST_RESPONSE_TOKENS", "0123456789abcdef0123")
	t.Setenv("INGEST_OPENID_CONFIG_URL", "http://127.0.0.1:1/openid")
	if err := run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "INGEST_OPENID_CONFIG_URL") {
		t.Fatalf("unreachable OpenID configuration: %v", err)
	}
}

// TestShutdownSharesOneDeadline: when NATS stalls, the HTTP shutdown (an
// in-flight request waiting for its ack) and the NATS drain share the one
// COMMSOPS_SHUTDOWN_TIMEOUT: run returns within it rather than the drain
// getting a fresh one after the requests.
func TestShutdownSharesOneDeadline(t *testing.T) {
	const timeout = 4 * time.Second
	srv := natstest.Run(t)
	proxy := natstest.NewProxy(t, srv.URL())
	addr := servicetest.FreeAddr(t)
	setEnv(t, proxy.URL(), addr, "INGEST_STORE_TIMEOUT", "3500ms", "COMMSOPS_SHUTDOWN_TIMEOUT", timeout.String())
	p := servicetest.Start(t, runBinary)
	post := servicetest.HTTP(http.MethodPost, "http://"+addr+"/v1/notifications", callback, http.StatusAccepted)
	servicetest.WaitFor(t, "never stored", post)

	proxy.Freeze()
	inFlight := make(chan struct{})
	go func() {
		defer close(inFlight)
		_ = post() // waits for an ack that does not come
	}()
	servicetest.WaitFor(t, "the request in flight", func() error {
		if proxy.Held() == 0 {
			return errors.New("nothing reached the frozen path yet")
		}
		return nil
	})
	// Slack for a loaded CI machine; the old code took twice the timeout.
	p.Stop(t, timeout+1500*time.Millisecond)
	<-inFlight
}
