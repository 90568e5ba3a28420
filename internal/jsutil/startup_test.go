package jsutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestTransient(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"request timed out", fmt.Errorf("consumer x: %w", context.DeadlineExceeded), true},
		{"nats timeout", nats.ErrTimeout, true},
		{"no responders", nats.ErrNoResponders, true},
		{"JetStream unavailable", jetstream.ErrJetStreamNotEnabled, true},
		{"cluster busy", &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream cluster not available"}, true},
		{"stream not found", jetstream.ErrStreamNotFound, false},
		{"bad request", &jetstream.APIError{Code: 400, Description: "consumer name in subject does not match"}, false},
		{"cancelled", context.Canceled, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Transient(tc.err); got != tc.want {
				t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestStartupRun: each attempt has its own deadline, transient failures are
// retried and logged once, others end the step, and so does ctx.
func TestStartupRun(t *testing.T) {
	t.Run("waits out unanswered attempts, logging once", func(t *testing.T) {
		var logs bytes.Buffer
		s := Startup{Name: "consumer c", Log: slog.New(slog.NewTextHandler(&logs, nil)), Attempt: 20 * time.Millisecond}
		attempts := 0
		err := s.Run(context.Background(), func(ctx context.Context) error {
			attempts++
			if _, ok := ctx.Deadline(); !ok {
				t.Error("an attempt without a deadline")
			}
			if attempts < 3 {
				<-ctx.Done() // a request never answered
				return ctx.Err()
			}
			return nil
		})
		if err != nil || attempts != 3 {
			t.Fatalf("Run = %v after %d attempts, want nil after 3", err, attempts)
		}
		if n := strings.Count(logs.String(), "retrying until the startup deadline"); n != 1 || !strings.Contains(logs.String(), `step="consumer c"`) {
			t.Errorf("logged %d times, want once with the step:\n%s", n, logs.String())
		}
	})
	t.Run("a permanent failure ends it at once", func(t *testing.T) {
		attempts := 0
		err := Startup{Name: "s"}.Run(context.Background(), func(context.Context) error {
			attempts++
			return jetstream.ErrStreamNotFound
		})
		if !errors.Is(err, jetstream.ErrStreamNotFound) || attempts != 1 {
			t.Fatalf("Run = %v after %d attempts", err, attempts)
		}
	})
	t.Run("the startup deadline ends it", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := Startup{Name: "s", Attempt: 10 * time.Millisecond}.Run(ctx, func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() == nil {
			t.Fatalf("Run = %v before the startup deadline passed", err)
		}
	})
}
