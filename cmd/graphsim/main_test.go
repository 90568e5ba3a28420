package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/service/servicetest"
)

func runBinary(ctx context.Context) error { return run(ctx, nil) }

// TestRunServesAndShutsDown: the binary serves Graph's create route and its
// OpenID configuration on GRAPHSIM_ADDR, and on SIGTERM (context cancelled)
// returns within COMMSOPS_SHUTDOWN_TIMEOUT.
func TestRunServesAndShutsDown(t *testing.T) {
	addr := servicetest.FreeAddr(t)
	t.Setenv("GRAPHSIM_ADDR", addr)
	t.Setenv("GRAPHSIM_SEED", "7")
	t.Setenv("GRAPHSIM_FAULTS", "race=0.3,duplicate=0.2,delay=20ms")
	t.Setenv("COMMSOPS_SHUTDOWN_TIMEOUT", "3s")
	t.Setenv("COMMSOPS_LOG_LEVEL", "error")
	p := servicetest.Start(t, runBinary)
	base := "http://" + addr
	servicetest.WaitFor(t, "the OpenID configuration never answered", servicetest.HTTP(http.MethodGet, base+"/.well-known/openid-configuration", "", http.StatusOK))
	resp, err := http.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil || cfg.Issuer != "https://api.botframework.com" || cfg.JWKSURI != base+"/.well-known/jwks.json" {
		t.Errorf("openid configuration %+v (%v)", cfg, err)
	}
	// A call whose callbacks go nowhere still answers 201.
	if err := servicetest.HTTP(http.MethodPost, base+"/v1.0/communications/calls", `{"callbackUri":"http://127.0.0.1:1/cb"}`, http.StatusCreated)(); err != nil {
		t.Error(err)
	}
	if _, err := p.Stop(t, 5*time.Second); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestRunRefusesBadConfig: an invalid GRAPHSIM_FAULTS, GRAPHSIM_RETRY or
// GRAPHSIM_SEED stops the start with an error naming the variable.
func TestRunRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"GRAPHSIM_FAULTS", "race=2"},
		{"GRAPHSIM_RETRY", "five"},
		{"GRAPHSIM_SEED", "-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GRAPHSIM_ADDR", servicetest.FreeAddr(t))
			t.Setenv("COMMSOPS_LOG_LEVEL", "error")
			t.Setenv(tc.name, tc.value)
			err := run(context.Background(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.name) {
				t.Errorf("run: %v, want an error naming %s", err, tc.name)
			}
		})
	}
}

// TestHelpListsVariables: -h prints every variable of the contract.
func TestHelpListsVariables(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	err = run(context.Background(), []string{"-h"})
	os.Stdout = stdout
	w.Close()
	var out bytes.Buffer
	_, _ = io.Copy(&out, r)
	if err == nil {
		t.Fatal("-h did not return ErrHelp")
	}
	for _, v := range []string{"GRAPHSIM_ADDR", "GRAPHSIM_CALLBACK_URL", "GRAPHSIM_AUDIENCE", "GRAPHSIM_ISSUER", "GRAPHSIM_TENANT",
		"GRAPHSIM_FAULTS", "GRAPHSIM_SEED", "GRAPHSIM_STEP", "GRAPHSIM_RETRY", "127.0.0.1:9090", "5x200ms"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("-h lacks %s:\n%s", v, out.String())
		}
	}
}
