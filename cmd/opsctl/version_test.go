package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersion: opsctl -version (--version, version) prints the version and
// -h shows it; extra arguments are a usage error.
func TestVersion(t *testing.T) {
	t.Setenv("NATS_URL", "nats://127.0.0.1:1") // nothing below may connect
	for _, args := range [][]string{{"-version"}, {"--version"}, {"version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, _, err := opsctl(t, args...)
			if err != nil || out != "opsctl "+version+"\n" {
				t.Fatalf("out %q, err %v", out, err)
			}
		})
	}
	t.Run("-h", func(t *testing.T) {
		out, _, err := opsctl(t, "-h")
		if err != errHelp || !strings.HasPrefix(out, "opsctl "+version+": ") || !strings.Contains(out, "opsctl -version") {
			t.Fatalf("err %v, usage:\n%s", err, out)
		}
	})
	t.Run("-version x", func(t *testing.T) {
		_, _, err := opsctl(t, "-version", "x")
		if err == nil || exitCode(err, &strings.Builder{}) != 2 || !strings.Contains(err.Error(), "takes no arguments") {
			t.Fatalf("err %v", err)
		}
	})
}

// TestVersionStamped: the build stamps main.version as for cmd/ingest and
// cmd/resolver (deploy/Dockerfile: -ldflags "-X main.version=$VERSION").
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	bin := filepath.Join(t.TempDir(), "opsctl")
	build := exec.Command(goBin, "build", "-trimpath", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-version"}, "opsctl v9.8.7-test\n"},
		{[]string{"-h"}, "opsctl v9.8.7-test: operate a commsops pipeline."},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(cmd.Environ(), "NATS_URL=nats://127.0.0.1:1")
			out, err := cmd.Output()
			if err != nil || !strings.HasPrefix(string(out), tc.want) {
				t.Fatalf("opsctl %q: %v, out %q, want it to start with %q", tc.args, err, out, tc.want)
			}
		})
	}
}
