package graphsim

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/service/servicetest"
)

// TestRetry: a callback answered 500 (or not answered within the timeout)
// is redelivered with the same message id and a doubling backoff until it
// is answered 2xx, or given up after the configured redeliveries; each
// attempt is visible in the ground truth (status, attempt, outcome), also
// through GET /graphsim/v1/calls/{id}.
func TestRetry(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(n int) int // by attempt, from 0
		timeout  time.Duration
		wantCode []int
		wantLast string
	}{
		{"500 twice then 202", func(n int) int { return []int{500, 500, 202}[min(n, 2)] }, 0,
			[]int{500, 500, 202}, OutcomeDelivered},
		{"always 500", func(int) int { return 500 }, 0,
			[]int{500, 500, 500, 500}, OutcomeGaveUp},
		{"429 then 200", func(n int) int { return []int{429, 200}[min(n, 1)] }, 0,
			[]int{429, 200}, OutcomeDelivered},
		{"no answer then 202", func(n int) int {
			if n == 0 {
				return -1
			}
			return 202
		}, 100 * time.Millisecond, []int{0, 202}, OutcomeDelivered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			var (
				mu       sync.Mutex
				first    string // the message id of the first callback, the one under test
				attempts int
			)
			rc := newReceiver(t, func(_ int, r *http.Request, _ []byte) int {
				mu.Lock()
				id := r.Header.Get(headerMessageID)
				if first == "" {
					first = id
				}
				if id != first {
					mu.Unlock()
					return http.StatusAccepted
				}
				code := tc.answer(attempts)
				attempts++
				mu.Unlock()
				if code < 0 {
					select { // hold the answer past the simulator's timeout
					case <-r.Context().Done():
					case <-release:
					}
					return http.StatusAccepted
				}
				return code
			})
			var logBuf servicetest.Buffer
			sim, ts := startSim(t, Config{Retry: Retry{Count: 3, Backoff: 5 * time.Millisecond}, Timeout: tc.timeout,
				Log: slog.New(slog.NewJSONHandler(&logBuf, nil))})
			callID := createCall(t, ts, rc.url())
			var tr CallTruth
			waitTruth(t, sim, callID, "the first callback ended", func(all CallTruth) bool {
				tr = all
				tr.Deliveries = slices.DeleteFunc(slices.Clone(all.Deliveries), func(d Delivery) bool { return d.MessageID != all.Deliveries[0].MessageID })
				n := len(tr.Deliveries)
				return n > 0 && tr.Deliveries[n-1].Outcome != OutcomeRetry
			})
			if len(tr.Deliveries) != len(tc.wantCode) {
				t.Fatalf("%d attempts, want %d: %+v", len(tr.Deliveries), len(tc.wantCode), tr.Deliveries)
			}
			for i, d := range tr.Deliveries {
				want := OutcomeRetry
				if i == len(tr.Deliveries)-1 {
					want = tc.wantLast
				}
				if d.Status != tc.wantCode[i] || d.Attempt != i+1 || d.Outcome != want {
					t.Errorf("attempt %d: %+v, want status %d outcome %s", i+1, d, tc.wantCode[i], want)
				}
				if i > 0 {
					gap := d.At.Sub(tr.Deliveries[i-1].At)
					if min := 5 * time.Millisecond << (i - 1); gap < min {
						t.Errorf("attempt %d came %v after the previous, before its backoff %v", i+1, gap, min)
					}
				}
			}
			// The log tells each attempt.
			wantLog := map[string]string{OutcomeDelivered: `"msg":"callback delivered"`, OutcomeGaveUp: `"msg":"callback given up"`}[tc.wantLast]
			if log := logBuf.String(); !strings.Contains(log, wantLog) || !strings.Contains(log, `"msg":"callback not accepted; retrying"`) {
				t.Errorf("log lacks %s or the retry:\n%s", wantLog, log)
			}
			// The same through the control API.
			status, _, body := do(t, http.MethodGet, ts.URL+"/graphsim/v1/calls/"+callID, "")
			var got CallTruth
			mustUnmarshal(t, body, &got)
			last := slices.IndexFunc(got.Deliveries, func(d Delivery) bool {
				return d.MessageID == tr.Deliveries[0].MessageID && d.Attempt == len(tc.wantCode)
			})
			if status != http.StatusOK || got.CallID != callID || last < 0 || got.Deliveries[last].Outcome != tc.wantLast {
				t.Errorf("GET /graphsim/v1/calls/%s: %d %s", callID, status, body)
			}
		})
	}
}

// TestCloseStopsCallbacks: Close ends a delivery waiting out its backoff at
// once; an action after Close is still answered, and calls back nothing.
func TestCloseStopsCallbacks(t *testing.T) {
	rc := newReceiver(t, func(int, *http.Request, []byte) int { return http.StatusInternalServerError })
	sim, ts := startSim(t, Config{Retry: Retry{Count: 5, Backoff: time.Minute}})
	callID := createCall(t, ts, rc.url())
	waitTruth(t, sim, callID, "a first attempt", func(tr CallTruth) bool { return len(tr.Deliveries) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sim.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	before := len(rc.all())
	op := action(t, ts, callID, "playPrompt", "after-close", HeaderFaults, "race=1")
	if op["id"] == "" {
		t.Errorf("operation %v", op)
	}
	tr, _ := sim.Truth(callID)
	if n := len(rc.all()); n != before || tr.Deliveries[len(tr.Deliveries)-1].Outcome != OutcomeGaveUp {
		t.Errorf("callbacks after close: %d → %d; last delivery %+v", before, n, tr.Deliveries[len(tr.Deliveries)-1])
	}
}
