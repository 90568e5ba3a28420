package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service"
	"github.com/commsops/commsops/internal/service/servicetest"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

func runBinary(ctx context.Context) error { return run(ctx, nil) }

// TestRunForwardsAndShutsDownWithinDeadline: the binary's run answers its
// probes, forwards a resolved event stored after it started to K_SINK with
// the bearer token, and on SIGTERM (context cancelled) returns within
// COMMSOPS_SHUTDOWN_TIMEOUT.
func TestRunForwardsAndShutsDownWithinDeadline(t *testing.T) {
	var got atomic.Value
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Ce-Id") + " " + r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()
	srv := natstest.Run(t)
	addr := servicetest.FreeAddr(t)
	t.Setenv("NATS_URL", srv.URL())
	t.Setenv("K_SINK", sink.URL)
	t.Setenv("FORWARDER_SINK_TOKEN", "run-token")
	t.Setenv("FORWARDER_STATUSES", "completed,failed")
	t.Setenv("FORWARDER_ADDR", addr)
	t.Setenv("COMMSOPS_SHUTDOWN_TIMEOUT", "5s")
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	p := servicetest.Start(t, runBinary)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		servicetest.WaitFor(t, path+" never answered 200", servicetest.HTTP(http.MethodGet, "http://"+addr+path, "", http.StatusOK))
	}
	_, js := natstest.Connect(t, srv.URL())
	e := event.New()
	e.SetID("op-1-completed")
	e.SetType(subjects.ResolvedType(string(events.StatusCompleted)))
	e.SetSource(subjects.ResolvedSource("call-1"))
	e.SetSubject("ctx-1")
	_ = e.SetData(events.ContentTypeJSON, []byte(`{"clientContext":"ctx-1","status":"completed"}`))
	m, err := events.EncodeMsg(events.ResolvedSubject(events.Key("ctx-1"), events.StatusCompleted), e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	servicetest.WaitFor(t, "the sink never got the event", func() error {
		if v, _ := got.Load().(string); v != "op-1-completed Bearer run-token" {
			return errorString("sink got " + v)
		}
		return nil
	})
	servicetest.WaitFor(t, "the metrics never showed the delivery", func() error {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, want := range []string{"commsops_forwarder_delivered_total 1", "commsops_forwarder_consumer_pending 0",
			`commsops_forwarder_sink_seconds_count{outcome="ok"} 1`, "commsops_forwarder_deadlettered_total 0"} {
			if !strings.Contains(string(b), want) {
				return errorString("/metrics lacks " + want)
			}
		}
		return nil
	})
	if _, err := p.Stop(t, 7*time.Second); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestRunRefusesBadConfig: no K_SINK, or an unknown status, ends run at
// once with an error naming the variable.
func TestRunRefusesBadConfig(t *testing.T) {
	cases := []struct{ name, sink, statuses, want string }{
		{"no sink", "", "", "K_SINK"},
		{"unknown status", "http://127.0.0.1:1/", "completed,done", "FORWARDER_STATUSES"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NATS_URL", "nats://127.0.0.1:1")
			t.Setenv("K_SINK", tc.sink)
			t.Setenv("FORWARDER_STATUSES", tc.statuses)
			t.Setenv("COMMSOPS_LOG_LEVEL", "error")
			err := run(t.Context(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestShutdownSharesOneDeadline: when NATS stalls, the forwarder's stop,
// the HTTP shutdown and the NATS drain share the one
// COMMSOPS_SHUTDOWN_TIMEOUT: run returns within it.
func TestShutdownSharesOneDeadline(t *testing.T) {
	const timeout = 3 * time.Second
	srv := natstest.Run(t)
	proxy := natstest.NewProxy(t, srv.URL())
	addr := servicetest.FreeAddr(t)
	t.Setenv("NATS_URL", proxy.URL())
	t.Setenv("K_SINK", "http://127.0.0.1:1/")
	t.Setenv("FORWARDER_ADDR", addr)
	t.Setenv("COMMSOPS_SHUTDOWN_TIMEOUT", timeout.String())
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	p := servicetest.Start(t, runBinary)
	servicetest.WaitFor(t, "/readyz never answered 200", servicetest.HTTP(http.MethodGet, "http://"+addr+"/readyz", "", http.StatusOK))
	proxy.Freeze()
	// Slack for a loaded CI machine.
	p.Stop(t, timeout+1500*time.Millisecond)
}

// TestConfigLogRedacted: the configuration logged at startup masks the sink
// token and the sink URL's user information.
func TestConfigLogRedacted(t *testing.T) {
	t.Setenv("K_SINK", "https://user:pw-5ecret@sink.example/events")
	t.Setenv("FORWARDER_SINK_TOKEN", "tok-5ecret")
	var cfg Config
	if err := service.Load("forwarder", nil, &cfg, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	dump := fmt.Sprintln(service.Redacted(&cfg)...)
	for _, secret := range []string{"pw-5ecret", "tok-5ecret"} {
		if strings.Contains(dump, secret) {
			t.Errorf("the startup log carries %q: %s", secret, dump)
		}
	}
	for _, want := range []string{"FORWARDER_SINK_TOKEN [masked]", "sink.example/events", "FORWARDER_CONCURRENCY 64", "FORWARDER_ADDR :8083"} {
		if !strings.Contains(dump, want) {
			t.Errorf("the startup log lacks %q: %s", want, dump)
		}
	}
}
