package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service/servicetest"
)

func runBinary(ctx context.Context) error { return run(ctx, nil) }

// TestRunServesAndShutsDownWithinDeadline: the binary's run answers its
// probes and (COMMSOPS_DEBUG_ADDR set) its profiler, and on SIGTERM (context
// cancelled) drains and returns well within COMMSOPS_SHUTDOWN_TIMEOUT.
func TestRunServesAndShutsDownWithinDeadline(t *testing.T) {
	srv := natstest.Run(t)
	addr, debugAddr := servicetest.FreeAddr(t), servicetest.FreeAddr(t)
	t.Setenv("NATS_URL", srv.URL())
	t.Setenv("RESOLVER_ADDR", addr)
	t.Setenv("COMMSOPS_DEBUG_ADDR", debugAddr)
	t.Setenv("COMMSOPS_SHUTDOWN_TIMEOUT", "5s")
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	p := servicetest.Start(t, runBinary)
	for _, url := range []string{"http://" + addr + "/healthz", "http://" + addr + "/readyz", "http://" + addr + "/metrics",
		"http://" + debugAddr + "/debug/pprof/cmdline"} {
		servicetest.WaitFor(t, url+" never answered 200", servicetest.HTTP(http.MethodGet, url, "", http.StatusOK))
	}
	if _, err := p.Stop(t, 7*time.Second); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestShutdownSharesOneDeadline: when NATS stalls, the worker's drain, the
// HTTP shutdown and the NATS drain share the one COMMSOPS_SHUTDOWN_TIMEOUT:
// run returns within it, however the time is spent between them.
func TestShutdownSharesOneDeadline(t *testing.T) {
	const timeout = 3 * time.Second
	srv := natstest.Run(t)
	proxy := natstest.NewProxy(t, srv.URL())
	addr := servicetest.FreeAddr(t)
	t.Setenv("NATS_URL", proxy.URL())
	t.Setenv("RESOLVER_ADDR", addr)
	t.Setenv("COMMSOPS_SHUTDOWN_TIMEOUT", timeout.String())
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	p := servicetest.Start(t, runBinary)
	servicetest.WaitFor(t, "/readyz never answered 200", servicetest.HTTP(http.MethodGet, "http://"+addr+"/readyz", "", http.StatusOK))

	proxy.Freeze()
	// Slack for a loaded CI machine; the old code took twice the timeout.
	p.Stop(t, timeout+1500*time.Millisecond)
}
