package forwarder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// sink sends events with the CloudEvents SDK's HTTP protocol. It uses the
// protocol's Request rather than the client's Send: Send returns only a
// result, and a 429 or 503 needs the answer's Retry-After.
type sink struct {
	proto *cehttp.Protocol
	token string // masked in what is quoted of an answer
}

// bearer adds the sink token to every request, on a clone: the token lives
// in the transport only, never in the protocol's request template (which
// the SDK may print in an error).
type bearer struct {
	next  http.RoundTripper
	value string
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", b.value)
	return b.next.RoundTrip(r)
}

// GoString keeps the token out of %#v.
func (b *bearer) GoString() string { return "&forwarder.bearer{[masked]}" }

func newSink(target, token string, client *http.Client, concurrency int) (*sink, error) {
	var hc http.Client
	if client != nil {
		hc = *client
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = concurrency
		hc.Transport = t
	}
	hc.Timeout = 0 // each delivery has its own deadline
	// A redirect is an answer like any other that is not 2xx: following it
	// would turn the POST into a GET (302, 303) and ack an event never
	// delivered, or take the token to another host.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if hc.Transport == nil {
		hc.Transport = http.DefaultTransport
	}
	if token != "" {
		hc.Transport = &bearer{next: hc.Transport, value: "Bearer " + token}
	}
	p, err := cehttp.New(cehttp.WithTarget(target), cehttp.WithClient(hc))
	if err != nil {
		return nil, fmt.Errorf("%w: sink: %v", ErrConfig, errors.New("invalid target"))
	}
	return &sink{proto: p, token: token}, nil
}

// answer is the outcome of one delivery.
type answer struct {
	status int // 0: no answer (transport error, timeout)
	// retryAfter is the answer's Retry-After, when it had a valid one.
	retryAfter    time.Duration
	hasRetryAfter bool
	err           error // nil for a 2xx
}

// maxErrorBody bounds what of a refusal's body is read (and quoted in logs).
const maxErrorBody = 256

// send POSTs e in binary content mode and returns the sink's answer.
func (s *sink) send(ctx context.Context, e *event.Event, now time.Time) answer {
	resp, err := s.proto.Request(binding.WithForceBinary(ctx), binding.ToMessage(e))
	var a answer
	if m, ok := resp.(*cehttp.Message); ok && m != nil {
		var body []byte
		if m.BodyReader != nil {
			body, _ = io.ReadAll(io.LimitReader(m.BodyReader, maxErrorBody))
			body = s.mask(body)
		}
		var res *cehttp.Result
		if protocol.ResultAs(err, &res) {
			a.status = res.StatusCode
		}
		if a.status/100 != 2 {
			a.retryAfter, a.hasRetryAfter = parseRetryAfter(m.Header.Get("Retry-After"), now)
			a.err = fmt.Errorf("%w: status %d: %q", ErrSinkStatus, a.status, body)
		}
		_ = m.Finish(nil)
		return a
	}
	if err == nil || protocol.IsACK(err) {
		// Not an HTTP answer: cannot happen with the HTTP protocol.
		return answer{err: fmt.Errorf("%w: no HTTP answer", ErrSinkStatus)}
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return answer{err: ErrSinkTimeout}
	case ctx.Err() != nil:
		return answer{err: fmt.Errorf("forwarder: delivery cancelled: %w", ctx.Err())}
	}
	return answer{err: redactURL(err)}
}

// mask removes the token (and any prefix of it cut by maxErrorBody) from
// a sink's answer before it is quoted: a sink may echo the request.
func (s *sink) mask(body []byte) []byte {
	if s.token == "" {
		return body
	}
	body = bytes.ReplaceAll(body, []byte(s.token), []byte("[masked]"))
	for n := len(s.token) - 1; n >= 4; n-- {
		if bytes.HasSuffix(body, []byte(s.token[:n])) {
			return append(body[:len(body)-n], "[masked]"...)
		}
	}
	return body
}

// redactURL returns err without the URL that net/http quotes in a transport
// error (it may carry credentials or a token in its query).
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("forwarder: %s sink: %w", ue.Op, ue.Err)
	}
	return err
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date
// (RFC 9110). A date in the past is a zero delay.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
