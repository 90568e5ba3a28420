package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commsops/commsops/internal/graphwire"
)

// maxCaptureBody is the most of an action's request or response body that
// is read for capture; a larger one passes through uncaptured.
const maxCaptureBody = 1 << 20

// CaptureResponses returns a transport that stores the response of every
// Graph call action it carries (POST …/communications/calls/{id}/{action},
// participants/invite and participants/{id}/{action}, any API version) in
// COMMS_IN through p, as the bot would post it to /v1/responses. The caller
// reads exactly the status, headers, body and errors next gives; a store
// never fails or delays the caller past reading the response, and is retried
// in the background within CaptureRetryFor. Other requests pass through
// untouched and unbuffered. next nil means http.DefaultTransport. It panics
// on a nil Publisher or an invalid option, as a programming error.
func CaptureResponses(next http.RoundTripper, p *Publisher, opts ...CaptureOption) http.RoundTripper {
	if p == nil {
		panic("events: CaptureResponses with a nil Publisher")
	}
	cfg, err := newCaptureConfig(opts)
	if err != nil {
		panic(err.Error())
	}
	if next == nil {
		next = http.DefaultTransport
	}
	c := &capture{next: next, p: p, cfg: cfg, m: newCaptureMetrics()}
	if cfg.registerer != nil {
		cfg.registerer.MustRegister(c.m.stored, c.m.retries, c.m.failed)
	}
	return c
}

type capture struct {
	next    http.RoundTripper
	p       *Publisher
	cfg     captureConfig
	m       captureMetrics
	pending atomic.Int64
}

type captureMetrics struct {
	stored, retries prometheus.Counter
	failed          *prometheus.CounterVec
}

func newCaptureMetrics() captureMetrics {
	return captureMetrics{
		stored:  prometheus.NewCounter(prometheus.CounterOpts{Name: "commsops_capture_stored_total", Help: "Action responses stored as evidence."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "commsops_capture_retries_total", Help: "Failed store attempts retried."}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "commsops_capture_failed_total",
			Help: "Action responses not stored, by reason (invalid, too_large, dropped, timeout)."}, []string{"reason"}),
	}
}

// RoundTrip sends req through the next transport and captures the answer of
// an action request.
func (c *capture) RoundTrip(req *http.Request) (*http.Response, error) {
	callID, action, ok := actionOf(req)
	if !ok {
		return c.next.RoundTrip(req)
	}
	reqBody, req, err := peekBody(req)
	if err != nil {
		return nil, err
	}
	sentAt := time.Now().UTC()
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, tooLarge, readErr := bufferBody(resp)
	switch {
	case tooLarge:
		c.fail("too_large", fmt.Errorf("%w: %s %s: response body over %d bytes", ErrCaptureDropped, action, callID, maxCaptureBody))
		return resp, nil
	case readErr != nil:
		c.fail("invalid", fmt.Errorf("%w: %s %s: reading the response: %w", ErrCaptureDropped, action, callID, readErr))
		return resp, nil
	}
	r := ActionResponse{CallID: callID, Action: action, HTTPStatus: resp.StatusCode, SentAt: sentAt}
	opCC := ""
	if op := bytes.TrimSpace(respBody); len(op) > 0 && op[0] == '{' {
		if cc, isOp := operationBody(op); isOp {
			r.Operation, opCC = json.RawMessage(op), cc
		}
	}
	if opCC == "" {
		r.ClientContext = requestClientContext(reqBody)
	}
	if _, err := graphwire.ParseActionResponse(mustMarshal(r)); err != nil {
		c.fail("invalid", fmt.Errorf("%w: %s %s: %w", ErrCaptureDropped, action, callID, err))
		return resp, nil
	}
	if c.pending.Add(1) > int64(c.cfg.maxPending) {
		c.pending.Add(-1)
		c.fail("dropped", fmt.Errorf("%w: %s %s: %d stores pending", ErrCaptureDropped, action, callID, c.cfg.maxPending))
		return resp, nil
	}
	go c.store(r)
	return resp, nil
}

// store stores r, retrying with backoff until it is stored or
// CaptureRetryFor passed.
func (c *capture) store(r ActionResponse) {
	defer c.pending.Add(-1)
	deadline := time.Now().Add(c.cfg.retryFor)
	backoff := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), min(5*time.Second, time.Until(deadline)))
		_, err := c.p.PublishResponse(ctx, r)
		cancel()
		if err == nil {
			c.m.stored.Inc()
			return
		}
		if !errors.Is(err, ErrNotStored) || time.Now().Add(backoff).After(deadline) {
			c.fail("timeout", fmt.Errorf("%w: %s %s: %w", ErrCaptureDropped, r.Action, r.CallID, err))
			return
		}
		c.m.retries.Inc()
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (c *capture) fail(reason string, err error) {
	c.m.failed.WithLabelValues(reason).Inc()
	c.cfg.onError(err)
}

// actionOf returns the call id and action name of a Graph call action
// request: POST …/communications/calls/{id}/{action},
// …/calls/{id}/participants/invite or …/calls/{id}/participants/{pid}/{action}.
func actionOf(req *http.Request) (callID, action string, ok bool) {
	if req.Method != http.MethodPost || req.URL == nil {
		return "", "", false
	}
	path := req.URL.EscapedPath()
	i := strings.Index(strings.ToLower(path), "/communications/calls/")
	if i < 0 {
		return "", "", false
	}
	parts := strings.Split(strings.Trim(path[i+len("/communications/calls/"):], "/"), "/")
	for j, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return "", "", false
		}
		parts[j] = u
	}
	switch {
	case len(parts) == 2:
		action = parts[1]
	case len(parts) == 3 && strings.EqualFold(parts[1], "participants"):
		action = "participants/" + parts[2]
	case len(parts) == 4 && strings.EqualFold(parts[1], "participants"):
		action = "participants/" + parts[3]
	default:
		return "", "", false
	}
	if parts[0] == "" || graphwire.OperationTypeForAction(action) == "" {
		return "", "", false
	}
	return parts[0], action, true
}

// peekBody returns a copy of req's body (up to maxCaptureBody) and the
// request to send: req itself when its body can be had again (GetBody),
// else a shallow copy whose body replays what was read.
func peekBody(req *http.Request) ([]byte, *http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, req, nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, req, nil
		}
		defer rc.Close()
		b, _ := io.ReadAll(io.LimitReader(rc, maxCaptureBody))
		return b, req, nil
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, maxCaptureBody))
	if err != nil {
		req.Body.Close()
		return nil, nil, err
	}
	r2 := *req
	r2.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), req.Body), req.Body}
	return b, &r2, nil
}

// bufferBody reads resp's body (up to maxCaptureBody) and puts back a body
// that gives the caller the same bytes, then the same read error or EOF,
// and the same Close error. It reports a body over the limit (then left
// unread past it) and the error that ended the read.
func bufferBody(resp *http.Response) (body []byte, tooLarge bool, err error) {
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil, false, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCaptureBody+1))
	if err == nil && len(b) > maxCaptureBody {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
		return nil, true, nil
	}
	resp.Body = &replayBody{r: bytes.NewReader(b), err: err, orig: resp.Body}
	return b, false, err
}

// replayBody gives the bytes read of a body, then the error that ended the
// read (io.EOF when none), and closes the original body on Close.
type replayBody struct {
	r    *bytes.Reader
	err  error
	orig io.ReadCloser
}

func (b *replayBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.err != nil {
		return n, b.err
	}
	return n, err
}

func (b *replayBody) Close() error { return b.orig.Close() }

// operationBody reports whether a JSON object looks like a commsOperation
// (an @odata.type ending in "Operation", or an id with a status) and returns
// its clientContext.
func operationBody(b []byte) (clientContext string, ok bool) {
	var probe struct {
		Type          string          `json:"@odata.type"`
		ID            json.RawMessage `json:"id"`
		Status        json.RawMessage `json:"status"`
		ClientContext string          `json:"clientContext"`
	}
	if json.Unmarshal(b, &probe) != nil {
		return "", false
	}
	ok = strings.HasSuffix(strings.ToLower(probe.Type), "operation") || (probe.ID != nil && probe.Status != nil)
	return probe.ClientContext, ok
}

// requestClientContext returns the clientContext of an action's request
// body, "" when it has none.
func requestClientContext(body []byte) string {
	var probe struct {
		ClientContext string `json:"clientContext"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return ""
	}
	return probe.ClientContext
}

func mustMarshal(r ActionResponse) []byte {
	b, _ := json.Marshal(r)
	return b
}
