package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service/servicetest"
)

// TestOperationsAPIListener: the operations API and POST /v1/responses are
// served on INGEST_API_ADDR with the bots' tokens, never on INGEST_ADDR; an
// open event stream does not hold the shutdown past its deadline.
func TestOperationsAPIListener(t *testing.T) {
	const timeout = 4 * time.Second
	srv := natstest.Run(t)
	addr, apiAddr := servicetest.FreeAddr(t), servicetest.FreeAddr(t)
	setEnv(t, srv.URL(), addr, "INGEST_API_ADDR", apiAddr, "COMMSOPS_SHUTDOWN_TIMEOUT", timeout.String())
	p := servicetest.Start(t, runBinary)
	api := "http://" + apiAddr
	servicetest.WaitFor(t, "operations API up", servicetest.HTTP(http.MethodGet, api+"/v1/operations/nobody", "", http.StatusNotFound))
	for _, c := range []struct {
		method, url, body string
		want              int
	}{
		{http.MethodGet, api + "/v1/operations/nobody?wait=50ms", "", http.StatusOK},
		{http.MethodPost, api + "/v1/responses", `{"callId":"c1","action":"playPrompt","clientContext":"cc-1","httpStatus":202,"operation":null}`, http.StatusAccepted},
		{http.MethodGet, "http://" + addr + "/v1/operations/nobody?wait=50ms", "", http.StatusNotFound},
	} {
		if err := servicetest.HTTP(c.method, c.url, c.body, c.want)(); err != nil {
			t.Error(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/operations/cc-1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %s", resp.Status)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		r := bufio.NewReader(resp.Body)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
		}
	}()
	p.Stop(t, timeout+time.Second)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the event stream stayed open after shutdown")
	}
}
