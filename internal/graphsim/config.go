package graphsim

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of Config, as in the contract.
const (
	DefaultCallbackURL = "http://127.0.0.1:8080/v1/notifications"
	DefaultAudience    = "commsops-dev"
	DefaultIssuer      = "https://api.botframework.com"
	// DefaultTenant is the tid of the callbacks' tokens: a fixed GUID.
	DefaultTenant = "6f0c8d1e-2b3a-4c5d-9e8f-7a6b5c4d3e2f"
	DefaultStep   = 50 * time.Millisecond
	// DefaultTimeout is how long a callback may take to be answered, as
	// Graph's webhooks allow (3 s).
	DefaultTimeout = 3 * time.Second
	// DefaultRaceHold bounds how long a race-faulted action's response is
	// held for its completion callback.
	DefaultRaceHold = 10 * time.Second
)

// DefaultRetry is 5 redeliveries, the first after 200ms.
var DefaultRetry = Retry{Count: 5, Backoff: 200 * time.Millisecond}

// Retry is how a callback not answered 2xx (or not within the timeout) is
// redelivered: Count more times, after Backoff, then twice as long each time.
type Retry struct {
	Count   int
	Backoff time.Duration
}

// ParseRetry reads "5x200ms" (Count x Backoff). Errors wrap ErrConfig.
func ParseRetry(s string) (Retry, error) {
	n, d, ok := strings.Cut(strings.TrimSpace(s), "x")
	if !ok {
		return Retry{}, fmt.Errorf("%w: retry %q is not <count>x<backoff>, e.g. 5x200ms", ErrConfig, s)
	}
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || count < 0 {
		return Retry{}, fmt.Errorf("%w: retry %q: the count is not a whole number", ErrConfig, s)
	}
	backoff, err := time.ParseDuration(strings.TrimSpace(d))
	if err != nil || backoff < 0 {
		return Retry{}, fmt.Errorf("%w: retry %q: the backoff is not a duration", ErrConfig, s)
	}
	return Retry{Count: count, Backoff: backoff}, nil
}

// String returns r in ParseRetry syntax.
func (r Retry) String() string { return strconv.Itoa(r.Count) + "x" + r.Backoff.String() }

// Config configures a Simulator. Zero values take the documented defaults,
// except Faults (none) and Retry (set Retry or use DefaultRetry).
type Config struct {
	// CallbackURL receives the callbacks of calls created without a
	// callbackUri (default DefaultCallbackURL).
	CallbackURL string
	// Audience, Issuer and Tenant are the aud, iss and tid claims of the
	// callbacks' tokens.
	Audience, Issuer, Tenant string
	// Faults apply to every call; a Graphsim-Faults header merges into them.
	Faults Faults
	// Seed seeds the ids and fault draws.
	Seed uint64
	// Step is the time between an operation's statuses (default DefaultStep).
	Step time.Duration
	// Retry is the redelivery of callbacks not answered 2xx.
	Retry Retry
	// Timeout bounds each callback delivery (default DefaultTimeout).
	Timeout time.Duration
	// RaceHold bounds the hold of a race-faulted response (default DefaultRaceHold).
	RaceHold time.Duration
	// HTTPClient delivers callbacks (default: a client without a timeout of
	// its own; Timeout bounds each delivery).
	HTTPClient *http.Client
	// Log receives the delivery log (default slog.Default()).
	Log *slog.Logger
	// Now is the clock of tokens and records (default time.Now).
	Now func() time.Time
}

// withDefaults validates c and fills in its defaults. Errors wrap ErrConfig.
func (c Config) withDefaults() (Config, error) {
	if c.CallbackURL == "" {
		c.CallbackURL = DefaultCallbackURL
	}
	if u, err := url.Parse(c.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("%w: callback URL %q is not an absolute http(s) URL", ErrConfig, c.CallbackURL)
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Tenant == "" {
		c.Tenant = DefaultTenant
	}
	if c.Step == 0 {
		c.Step = DefaultStep
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RaceHold == 0 {
		c.RaceHold = DefaultRaceHold
	}
	if c.Step < 0 || c.Timeout < 0 || c.RaceHold < 0 || c.Retry.Count < 0 || c.Retry.Backoff < 0 {
		return c, fmt.Errorf("%w: negative step, timeout, race hold or retry", ErrConfig)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
