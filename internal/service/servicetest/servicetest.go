// Package servicetest runs a binary's run function in its tests: on a free
// loopback address, until a probe succeeds, and stopped as SIGTERM stops it
// (its context cancelled), within a time limit.
package servicetest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/natstest"
)

// WaitLimit bounds how long WaitFor polls.
const WaitLimit = 15 * time.Second

// FreeAddr returns a loopback host:port that nothing listened on a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(natstest.FreePort(t))
}

// Process is a run function started by Start.
type Process struct {
	cancel context.CancelFunc
	done   chan error
}

// Start runs run in a goroutine with a context that Stop cancels (and the
// test's cleanup, if Stop is never called).
func Start(t testing.TB, run func(ctx context.Context) error) *Process {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &Process{cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- run(ctx) }()
	return p
}

// Stop cancels the context, as SIGTERM does, and waits for run to return. It
// fails t when that takes longer than limit, and returns run's error and how
// long shutdown took.
func (p *Process) Stop(t testing.TB, limit time.Duration) (time.Duration, error) {
	t.Helper()
	stopped := time.Now()
	p.cancel()
	select {
	case err := <-p.done:
		took := time.Since(stopped)
		t.Logf("shut down in %v (run: %v)", took, err)
		if took > limit {
			t.Fatalf("shutdown took %v, over its limit of %v", took, limit)
		}
		return took, err
	case <-time.After(limit + 5*time.Second):
		t.Fatalf("run did not return within %v", limit)
		return 0, nil
	}
}

// WaitFor polls probe every 50ms until it returns nil, and fails t with the
// last error when WaitLimit passes first.
func WaitFor(t testing.TB, what string, probe func() error) {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for {
		err := probe()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// HTTP returns a probe that sends method to url (with body as JSON when not
// empty) and succeeds when the answer's status is want.
func HTTP(method, url, body string, want int) func() error {
	return func() error {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			return err
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s answered %d, want %d", method, url, resp.StatusCode, want)
		}
		return nil
	}
}

// Buffer collects output written from other goroutines (a running binary,
// a client library's callbacks) for the test to read. Safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
