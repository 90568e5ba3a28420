package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// resetFixture is a pipeline as a stopped resolver leaves it: COMMS_IN with
// a message, the consumers resolver-0 and resolver-1 and a subscriber's
// consumer "audit" on it, two keys of state in COMMS_OPS, and an empty
// COMMS_WORKERS. opsctl points at it through NATS_URL.
func resetFixture(t *testing.T) (jetstream.JetStream, *streams.Layout) {
	t.Helper()
	srv := natstest.Run(t)
	t.Setenv("NATS_URL", srv.URL())
	_, js := natstest.Connect(t, srv.URL())
	ctx := context.Background()
	layout, err := streams.Ensure(ctx, js, streams.Config{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, events.SubjectInPrefix+"test.k1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{resolver.ConsumerName(0), resolver.ConsumerName(1), "audit"} {
		if _, err := js.CreateOrUpdateConsumer(ctx, events.StreamIn, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"k1", "k2"} {
		if _, err := layout.State.Put(ctx, k, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	return js, layout
}

// resetState is what reset-resolver may change.
type resetState struct {
	consumers     []string // of COMMS_IN
	stateKeys     int      // -1: no COMMS_OPS
	workersBucket bool
}

func readResetState(t *testing.T, js jetstream.JetStream) resetState {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	var st resetState
	names := s.ConsumerNames(ctx)
	for n := range names.Name() {
		st.consumers = append(st.consumers, n)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(st.consumers)
	st.stateKeys = -1
	if kv, err := js.KeyValue(ctx, events.BucketState); err == nil {
		keys, err := kv.Keys(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			t.Fatal(err)
		}
		st.stateKeys = len(keys)
	} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatal(err)
	}
	_, err = js.KeyValue(ctx, streams.BucketWorkers)
	st.workersBucket = err == nil
	return st
}

// resetCmd runs opsctl reset-resolver with stdin as its input.
func resetCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = cmdResetResolver(ctx, cmdIO{in: strings.NewReader(stdin), out: &out, errOut: &errOut}, args)
	return out.String(), errOut.String(), err
}

var untouched = resetState{consumers: []string{"audit", "resolver-0", "resolver-1"}, stateKeys: 2, workersBucket: true}

// TestResetResolverDryRun: -dry-run lists the consumers and buckets it would
// delete and changes nothing, even with "yes" on stdin.
func TestResetResolverDryRun(t *testing.T) {
	js, _ := resetFixture(t)
	out, errOut, err := resetCmd(t, "yes\n", "-dry-run")
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	for _, w := range []string{"1 messages", "delete consumer COMMS_IN > resolver-0", "delete consumer COMMS_IN > resolver-1",
		"delete bucket COMMS_OPS (2 keys", "delete bucket COMMS_WORKERS (no live worker)", "kept: COMMS_RESOLVED", "dry run: nothing changed"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "audit") || strings.Contains(errOut, "Type yes") {
		t.Errorf("names a consumer it keeps, or asked:\n%s%s", out, errOut)
	}
	if got := readResetState(t, js); !equalResetState(got, untouched) {
		t.Fatalf("state %+v after a dry run, want %+v", got, untouched)
	}
	t.Run("through run", func(t *testing.T) {
		out, _, err := opsctlReset(t, "reset-resolver", "-dry-run")
		if err != nil || !strings.Contains(out, "dry run: nothing changed") {
			t.Fatalf("err %v, out %q", err, out)
		}
	})
}

// TestResetResolverRefused: any answer but "yes", and no answer, change
// nothing.
func TestResetResolverRefused(t *testing.T) {
	js, _ := resetFixture(t)
	for _, stdin := range []string{"no\n", "", "y\n", "YES please\n"} {
		t.Run(strings.TrimSpace(stdin), func(t *testing.T) {
			out, errOut, err := resetCmd(t, stdin)
			if !errors.Is(err, errNotConfirmed) || exitCode(err, io.Discard) != 1 {
				t.Fatalf("err %v, want errNotConfirmed (exit 1)", err)
			}
			if !strings.Contains(errOut, "Type yes to go on") || !strings.Contains(out, "delete consumer COMMS_IN > resolver-0") {
				t.Errorf("no plan or no prompt:\n%s%s", out, errOut)
			}
			if got := readResetState(t, js); !equalResetState(got, untouched) {
				t.Fatalf("state %+v after a refusal, want %+v", got, untouched)
			}
		})
	}
}

// TestResetResolverYes: -yes (or "yes" at the prompt) deletes the resolver's
// consumers and both buckets and keeps everything else; a second run finds
// nothing to delete and succeeds.
func TestResetResolverYes(t *testing.T) {
	done := resetState{consumers: []string{"audit"}, stateKeys: -1, workersBucket: false}
	for _, tc := range []struct {
		name, stdin string
		args        []string
	}{
		{"-yes", "", []string{"-yes"}},
		{"typed yes", "yes\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, _ := resetFixture(t)
			out, errOut, err := resetCmd(t, tc.stdin, tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s%s", err, out, errOut)
			}
			if !strings.Contains(out, "deleted 2 consumers of COMMS_IN and the buckets COMMS_OPS and COMMS_WORKERS") {
				t.Errorf("output:\n%s", out)
			}
			if got := readResetState(t, js); !equalResetState(got, done) {
				t.Fatalf("state %+v after the reset, want %+v", got, done)
			}
			if _, err := js.Stream(context.Background(), events.StreamResolved); err != nil {
				t.Errorf("COMMS_RESOLVED: %v, want it kept", err)
			}
			out, _, err = resetCmd(t, "", "-yes")
			if err != nil || !strings.Contains(out, "deleted 0 consumers") || !strings.Contains(out, "no bucket COMMS_OPS") {
				t.Fatalf("second run: err %v\n%s", err, out)
			}
		})
	}
}

// TestResetResolverLiveWorker: with a worker's heartbeat in COMMS_WORKERS,
// reset-resolver refuses even with -yes, and changes nothing.
func TestResetResolverLiveWorker(t *testing.T) {
	js, layout := resetFixture(t)
	if _, err := layout.Workers.PutString(context.Background(), "resolver-abc", time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-yes"}, {"-dry-run"}} {
		t.Run(args[0], func(t *testing.T) {
			out, _, err := resetCmd(t, "yes\n", args...)
			if err == nil || !strings.Contains(err.Error(), "resolver worker(s) alive (resolver-abc)") || !strings.Contains(err.Error(), "nothing changed") {
				t.Fatalf("err %v, want a refusal naming resolver-abc", err)
			}
			if !strings.Contains(out, "LIVE WORKERS: resolver-abc") {
				t.Errorf("output:\n%s", out)
			}
			if got := readResetState(t, js); !equalResetState(got, untouched) {
				t.Fatalf("state %+v after a refusal, want %+v", got, untouched)
			}
		})
	}
}

// TestResetResolverUsage: misuse is a usage error before any connection.
func TestResetResolverUsage(t *testing.T) {
	t.Setenv("NATS_URL", "nats://127.0.0.1:1") // nothing below may connect
	out, _, err := opsctlReset(t, "reset-resolver", "-h")
	if err != errHelp || !strings.Contains(out, "usage: opsctl reset-resolver") || !strings.Contains(out, "-dry-run") || !strings.Contains(out, "-yes") {
		t.Fatalf("err %v, usage %q", err, out)
	}
	for _, args := range [][]string{{"reset-resolver", "now"}, {"reset-resolver", "-force"}} {
		_, _, err := opsctlReset(t, args...)
		if err == nil || exitCode(err, io.Discard) != 2 {
			t.Fatalf("%q: err %v, want a usage error", args, err)
		}
	}
}

// opsctlReset runs a whole opsctl command line (run), for the registration.
func opsctlReset(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func equalResetState(a, b resetState) bool {
	return slices.Equal(a.consumers, b.consumers) && a.stateKeys == b.stateKeys && a.workersBucket == b.workersBucket
}
