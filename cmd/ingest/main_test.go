package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/natstest"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestRunStoresAndShutsDown: the binary's run stores a callback (202) and on
// SIGTERM finishes in-flight requests and returns within its deadline.
func TestRunStoresAndShutsDown(t *testing.T) {
	srv := natstest.Run(t)
	addr := freeAddr(t)
	t.Setenv("NATS_URL", srv.URL())
	t.Setenv("INGEST_ADDR", addr)
	t.Setenv("INGEST_AUTH", "none")
	t.Setenv("COMMSOPS_SHUTDOWN_TIMEOUT", "5s")
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil) }()

	body := `{"value":[{"changeType":"deleted","resourceUrl":"/communications/calls/c1/operations/0fe0623f-d628-42ed-b4bd-8ac290072cc5","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5","status":"completed","clientContext":"x"}}]}`
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Post("http://"+addr+"/v1/notifications", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never stored (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(7 * time.Second):
		t.Fatal("run did not return within its shutdown deadline")
	}
}

// TestGraphAuthNeedsAudience: the default graph auth refuses to start without
// INGEST_JWT_AUDIENCE, with a message that says what to set.
func TestGraphAuthNeedsAudience(t *testing.T) {
	srv := natstest.Run(t)
	t.Setenv("NATS_URL", srv.URL())
	t.Setenv("INGEST_ADDR", freeAddr(t))
	t.Setenv("INGEST_AUTH", "")
	t.Setenv("INGEST_JWT_AUDIENCE", "")
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	err := run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "INGEST_") {
		t.Fatalf("err = %v", err)
	}
}

// TestGraphAuthStartupChecks: graph auth refuses to start without response
// tokens or with an unreachable OpenID configuration, saying what to fix.
func TestGraphAuthStartupChecks(t *testing.T) {
	srv := natstest.Run(t)
	t.Setenv("NATS_URL", srv.URL())
	t.Setenv("INGEST_ADDR", freeAddr(t))
	t.Setenv("INGEST_AUTH", "graph")
	t.Setenv("INGEST_JWT_AUDIENCE", "bot-app")
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	t.Setenv("INGEST_RESPONSE_TOKENS", "")
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
	addr := freeAddr(t)
	t.Setenv("NATS_URL", proxy.URL())
	t.Setenv("INGEST_ADDR", addr)
	t.Setenv("INGEST_AUTH", "none")
	t.Setenv("INGEST_STORE_TIMEOUT", "3500ms")
	t.Setenv("COMMSOPS_SHUTDOWN_TIMEOUT", timeout.String())
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil) }()

	post := func() (int, error) {
		body := `{"value":[{"changeType":"deleted","resourceUrl":"/communications/calls/c1/operations/0fe0623f-d628-42ed-b4bd-8ac290072cc5","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","id":"0fe0623f-d628-42ed-b4bd-8ac290072cc5","status":"completed","clientContext":"x"}}]}`
		resp, err := http.Post("http://"+addr+"/v1/notifications", "application/json", strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, err := post()
		if err == nil && code == http.StatusAccepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never stored (%d, %v)", code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	proxy.Freeze()
	inFlight := make(chan struct{})
	go func() {
		defer close(inFlight)
		_, _ = post() // waits for an ack that does not come
	}()
	time.Sleep(300 * time.Millisecond)
	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		took := time.Since(stopped)
		t.Logf("shut down in %v (run: %v)", took, err)
		if took > timeout+1500*time.Millisecond { // slack for a loaded CI machine; the old code took twice the timeout
			t.Fatalf("shutdown took %v, over COMMSOPS_SHUTDOWN_TIMEOUT=%v", took, timeout)
		}
	case <-time.After(3 * timeout):
		t.Fatal("run did not return")
	}
	<-inFlight
}
