package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
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

// TestRunServesAndShutsDownWithinDeadline: the binary's run answers its
// probes, and on SIGTERM (context cancelled) drains and returns well within
// COMMSOPS_SHUTDOWN_TIMEOUT.
func TestRunServesAndShutsDownWithinDeadline(t *testing.T) {
	srv := natstest.Run(t)
	addr := freeAddr(t)
	t.Setenv("NATS_URL", srv.URL())
	t.Setenv("RESOLVER_ADDR", addr)
	t.Setenv("COMMSOPS_SHUTDOWN_TIMEOUT", "5s")
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil) }()

	deadline := time.Now().Add(15 * time.Second)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		for {
			resp, err := http.Get("http://" + addr + path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never answered 200 (%v)", path, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		t.Logf("shut down in %v", time.Since(stopped))
	case <-time.After(7 * time.Second):
		t.Fatal("run did not return within its shutdown deadline")
	}
}

// TestShutdownSharesOneDeadline: when NATS stalls, the worker's drain, the
// HTTP shutdown and the NATS drain share the one COMMSOPS_SHUTDOWN_TIMEOUT:
// run returns within it, however the time is spent between them.
func TestShutdownSharesOneDeadline(t *testing.T) {
	const timeout = 3 * time.Second
	srv := natstest.Run(t)
	proxy := natstest.NewProxy(t, srv.URL())
	addr := freeAddr(t)
	t.Setenv("NATS_URL", proxy.URL())
	t.Setenv("RESOLVER_ADDR", addr)
	t.Setenv("COMMSOPS_SHUTDOWN_TIMEOUT", timeout.String())
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil) }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered 200 (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	proxy.Freeze()
	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		took := time.Since(stopped)
		t.Logf("shut down in %v (run: %v)", took, err)
		if took > timeout+1500*time.Millisecond { // slack for a loaded CI machine; the old code took twice the timeout
			t.Fatalf("shutdown took %v, over COMMSOPS_SHUTDOWN_TIMEOUT=%v", took, timeout)
		}
	case <-time.After(4 * timeout):
		t.Fatal("run did not return")
	}
}
