package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/demo"
	"github.com/commsops/commsops/internal/natstest"
)

// TestDevstackDemo runs the README's first command as a newcomer would
// (embedded JetStream, ingest, resolver, the bundled capture) and checks
// that every expected resolved event is printed.
func TestDevstackDemo(t *testing.T) {
	t.Setenv("NATS_URL", "")
	t.Setenv("COMMSOPS_DEV_PORT", strconv.Itoa(natstest.FreePort(t)))
	t.Setenv("COMMSOPS_DEV_DIR", t.TempDir())
	t.Setenv("INGEST_ADDR", "127.0.0.1:0")
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

func padRight(s string, n int) string { return s + strings.Repeat(" ", max(0, n-len(s))) }

// TestDevstackRefusesProduction: it must never run against a real cluster.
func TestDevstackRefusesProduction(t *testing.T) {
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err == nil || !strings.Contains(err.Error(), "dev mode") {
		t.Fatalf("err = %v", err)
	}
}
