package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/demo"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service/servicetest"
)

// TestDevstackDemo runs the README's first command as a newcomer would
// (embedded JetStream, ingest, resolver, the bundled capture) and checks
// that every expected resolved event is printed.
func TestDevstackDemo(t *testing.T) {
	t.Setenv("NATS_URL", "")
	t.Setenv("COMMSOPS_DEV_PORT", strconv.Itoa(natstest.FreePort(t)))
	t.Setenv("COMMSOPS_DEV_DIR", t.TempDir())
	t.Setenv("INGEST_ADDR", "127.0.0.1:0")
	t.Setenv("INGEST_API_ADDR", "off")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, []string{"-demo", "-exit-after-demo"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	for cc, statuses := range demo.Expected {
		for _, s := range statuses {
			if !strings.Contains(text, "resolved "+padRight(string(s), 10)+" cc="+cc) {
				t.Errorf("no %s event for %s in:\n%s", s, cc, text)
			}
		}
	}
	n := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "resolved ") {
			n++
		}
	}
	if n != demo.ExpectedCount() {
		t.Errorf("%d resolved events printed, want %d", n, demo.ExpectedCount())
	}
}

// TestDevstackServesOperationsAPI: the dev stack serves the operations API
// too, so a bot in any language can await the demo's operations over HTTP.
func TestDevstackServesOperationsAPI(t *testing.T) {
	t.Setenv("NATS_URL", "")
	t.Setenv("COMMSOPS_DEV_PORT", strconv.Itoa(natstest.FreePort(t)))
	t.Setenv("COMMSOPS_DEV_DIR", t.TempDir())
	t.Setenv("INGEST_ADDR", "127.0.0.1:0")
	t.Setenv("INGEST_API_ADDR", "127.0.0.1:0")
	out := &servicetest.Buffer{}
	p := servicetest.Start(t, func(ctx context.Context) error { return run(ctx, []string{"-demo"}, out) })
	apiRE := regexp.MustCompile(`operations API (http://127\.0\.0\.1:[0-9]+)`)
	servicetest.WaitFor(t, "the operations API announced", func() error {
		if apiRE.FindStringSubmatch(out.String()) == nil {
			return fmt.Errorf("not yet: %q", out.String())
		}
		return nil
	})
	api := apiRE.FindStringSubmatch(out.String())[1]
	for cc, statuses := range demo.Expected {
		last := statuses[len(statuses)-1]
		u := api + "/v1/operations/" + url.PathEscape(cc) + "?wait=30s&until=" + string(last)
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var a struct {
			Done bool `json:"done"`
		}
		err = json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !a.Done {
			t.Errorf("%s: %s done=%v (%v)", u, resp.Status, a.Done, err)
		}
	}
	if _, err := p.Stop(t, 25*time.Second); err != nil {
		t.Fatal(err)
	}
}

func padRight(s string, n int) string { return s + strings.Repeat(" ", max(0, n-len(s))) }

// TestDevstackRefusesProduction: it must never run against a real cluster.
func TestDevstackRefusesProduction(t *testing.T) {
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err == nil || !strings.Contains(err.Error(), "dev mode") {
		t.Fatalf("err = %v", err)
	}
}
