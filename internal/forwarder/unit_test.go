package forwarder

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/commsops/commsops/pkg/events"
)

// TestParseRetryAfter: seconds and HTTP dates, a past date as no wait, and
// anything else as no Retry-After.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestRetryDelay: Retry-After (capped) for 429 and 503 only; otherwise the
// backoff doubles per delivery up to its cap.
func TestRetryDelay(t *testing.T) {
	c := Config{Backoff: time.Second, MaxBackoff: 10 * time.Second, MaxRetryAfter: time.Minute}
	cases := []struct {
		name       string
		a          answer
		deliveries uint64
		want       time.Duration
		reason     string
	}{
		{"429 Retry-After", answer{status: 429, retryAfter: 7 * time.Second, hasRetryAfter: true}, 1, 7 * time.Second, "retry_after"},
		{"503 Retry-After capped", answer{status: 503, retryAfter: time.Hour, hasRetryAfter: true}, 1, time.Minute, "retry_after"},
		{"429 without Retry-After", answer{status: 429}, 2, 2 * time.Second, "status"},
		{"500 ignores Retry-After", answer{status: 500, retryAfter: time.Hour, hasRetryAfter: true}, 3, 4 * time.Second, "status"},
		{"timeout", answer{err: ErrSinkTimeout}, 1, time.Second, "timeout"},
		{"transport error, capped", answer{err: errors.New("refused")}, 9, 10 * time.Second, "error"},
		{"huge delivery count", answer{status: 500}, 1 << 40, 10 * time.Second, "status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, reason := c.retryDelay(tc.a, tc.deliveries)
			if d != tc.want || reason != tc.reason {
				t.Fatalf("retryDelay = %v %s, want %v %s", d, reason, tc.want, tc.reason)
			}
		})
	}
}

// TestConfig: defaults, status parsing and the refusals; the sink URL is
// never quoted in an error.
func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{Sink: "http://sink"}, ""},
		{"no sink", Config{}, "no sink URL"},
		{"relative sink", Config{Sink: "/events?token=t0ps3cret"}, "not an absolute"},
		{"bad scheme", Config{Sink: "ftp://user:t0ps3cret@sink"}, "not an absolute"},
		{"bad durable", Config{Sink: "http://sink", Durable: "a.b"}, "durable"},
		{"bad status", Config{Sink: "http://sink", Statuses: []events.Status{"done"}}, "statuses"},
		{"concurrency", Config{Sink: "http://sink", Concurrency: 5000}, "concurrency"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.setDefaults()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				c := tc.cfg
				if c.Durable != "forwarder" || c.Timeout != 10*time.Second || c.MaxDeliver != 10 || c.Concurrency != 64 {
					t.Fatalf("defaults %+v", c)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want ErrConfig saying %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "t0ps3cret") {
				t.Fatalf("the error quotes the sink URL: %v", err)
			}
		})
	}
	sts, err := ParseStatuses([]string{"Completed", " failed ", "", "notStarted"})
	if err != nil || fmt.Sprint(FilterSubjects(sts)) != "[comms.resolved.*.completed comms.resolved.*.failed comms.resolved.*.notstarted]" {
		t.Fatalf("ParseStatuses: %v %v", FilterSubjects(sts), err)
	}
	if got := FilterSubjects(nil); fmt.Sprint(got) != "[comms.resolved.*.*]" {
		t.Fatalf("every status: %v", got)
	}
}

// TestTokenNeverLogged: the bearer token and the sink URL's credentials
// appear in no log line, whatever the sink answers.
func TestTokenNeverLogged(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a"
	en := newEnv(t)
	sink := newTestSink(t, func(w http.ResponseWriter, r *http.Request, attempt int) int {
		if attempt == 1 {
			time.Sleep(300 * time.Millisecond) // a timeout
			return http.StatusOK
		}
		if attempt == 2 { // a sink that echoes the request's headers
			w.WriteHeader(http.StatusUnauthorized)
			_ = r.Header.Write(w)
			return 0
		}
		return http.StatusOK
	})
	cfg := testConfig(strings.Replace(sink.URL, "http://", "http://user:pw-c0ffee@", 1))
	cfg.Token, cfg.Timeout = token, 100*time.Millisecond
	r := en.start(t, cfg)
	st := en.publish(t, "ctx-token", "op-1", events.StatusCompleted)
	waitFor(t, "the event acked", en.consumerSettled(t, "fwd", st.seq))
	logs := r.logs.String()
	if !strings.Contains(logs, "delivery failed; retrying") {
		t.Fatalf("no failure logged:\n%s", logs)
	}
	for _, secret := range []string{token, "pw-c0ffee"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs carry %q:\n%s", secret, logs)
		}
	}
	// net/http quotes the URL in a transport error: the sink's error does not.
	sink.Close()
	sk, err := newSink(cfg.Sink, token, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	e := resolvedEvent(t, "ctx-token", "op-2", events.StatusCompleted)
	a := sk.send(t.Context(), &e, time.Now())
	if a.err == nil || strings.Contains(a.err.Error(), "pw-c0ffee") || strings.Contains(a.err.Error(), token) {
		t.Errorf("transport error %v", a.err)
	}
}
