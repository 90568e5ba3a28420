package service

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Common
	Addr   string        `envconfig:"TEST_ADDR" default:":9" desc:"listen address"`
	Tokens []string      `envconfig:"TEST_TOKENS" desc:"bearer tokens" secret:"true"`
	Wait   time.Duration `envconfig:"TEST_WAIT" default:"3s" desc:"a wait"`
}

// TestRedactedMasksSecrets: the startup configuration dump never contains a
// secret's value, and says which secrets are set.
func TestRedactedMasksSecrets(t *testing.T) {
	t.Setenv("NATS_URL", "nats://alice:S3cretPassw0rd@127.0.0.1:1, nats://tok3n-s3cret@10.0.0.2:4222,svc:pw-n0scheme@host:4222")
	t.Setenv("NATS_PASSWORD", "hunter2-password")
	t.Setenv("NATS_USER", "svc")
	t.Setenv("NATS_TOKEN", "")
	t.Setenv("TEST_TOKENS", "tok-aaaaaaaaaaaaaaaa,tok-bbbbbbbbbbbbbbbb")
	var cfg testConfig
	if err := Load("test", nil, &cfg, &bytes.Buffer{}, nil); err != nil {
		t.Fatal(err)
	}
	dump := fmt.Sprintln(Redacted(&cfg)...)
	for _, secret := range []string{"hunter2-password", "tok-aaaaaaaaaaaaaaaa", "tok-bbbbbbbbbbbbbbbb", "alice", "S3cretPassw0rd", "tok3n-s3cret", "pw-n0scheme"} {
		if strings.Contains(dump, secret) {
			t.Fatalf("dump leaks %q: %s", secret, dump)
		}
	}
	for _, want := range []string{"NATS_USER svc", "NATS_PASSWORD [masked]", "TEST_TOKENS [masked]", "TEST_ADDR :9", "NATS_TOKEN ",
		"NATS_URL nats://redacted@127.0.0.1:1, nats://redacted@10.0.0.2:4222,redacted@host:4222"} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump lacks %q: %s", want, dump)
		}
	}
}

// TestHelpListsEveryVariable: -h prints every variable with its default and
// returns ErrHelp.
func TestHelpListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	var cfg testConfig
	err := Load("test", []string{"-h"}, &cfg, &out, nil)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"NATS_URL", "COMMSOPS_REPLICAS", "COMMSOPS_SHUTDOWN_TIMEOUT", "20s", "TEST_ADDR", ":9", "TEST_WAIT", "3s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}
