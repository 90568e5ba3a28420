package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/problem"
	"github.com/commsops/commsops/internal/tracing"
	"github.com/commsops/commsops/pkg/events"
)

// Authenticator checks a request's credentials. It returns nil to let the
// request in, or an error whose message says what failed (never the secret).
type Authenticator interface {
	Authenticate(r *http.Request) error
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) error

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) error { return f(r) }

// Store stores inbound events, all or nothing as far as the caller is told:
// nil only when every event is stored. inbound.Storer implements it.
type Store interface {
	Store(ctx context.Context, in []inbound.Inbound) error
}

// Options configures a Handler.
type Options struct {
	Store Store
	// Ready reports whether JetStream accepts writes (for /readyz).
	Ready func(ctx context.Context) error
	// NotificationAuth and ResponseAuth guard the two routes; nil lets all in.
	NotificationAuth Authenticator
	ResponseAuth     Authenticator
	// MaxBodyBytes bounds a request body (default 1 MiB). Keep it at most
	// the server's max_payload minus inbound.MaxHeaderBytes, so that every
	// event fits in one message (cmd/ingest lowers it to that).
	MaxBodyBytes int64
	// StoreTimeout bounds the wait for JetStream's acks (default 2.5s, under
	// Graph's 3s answer deadline).
	StoreTimeout time.Duration
	// RetryAfter is the Retry-After of a 503 (default 1s).
	RetryAfter time.Duration
	Registry   *prometheus.Registry
	Log        *slog.Logger
	// Now returns the receive time (tests); default time.Now.
	Now func() time.Time
}

// Handler serves the ingest routes of the contract. Safe for concurrent use.
type Handler struct {
	opts Options
	mux  *http.ServeMux
	m    *metrics

	rj *rejections

	readyMu    sync.Mutex
	readyAt    time.Time
	readyError error
}

// NewHandler returns the ingest's http.Handler.
func NewHandler(o Options) (*Handler, error) {
	if o.Store == nil || o.Log == nil {
		return nil, errors.New("ingest: Store and Log are required")
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = 2500 * time.Millisecond
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	h := &Handler{opts: o, mux: http.NewServeMux(), m: newMetrics(o.Registry), rj: newRejections(o.Log, o.Registry, time.Now)}
	h.mux.HandleFunc("POST /v1/notifications", h.instrument("/v1/notifications", h.notifications))
	h.mux.HandleFunc("POST /v1/responses", h.instrument("/v1/responses", h.responses))
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	return h, nil
}

// ServeHTTP routes the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) notifications(w http.ResponseWriter, r *http.Request) {
	r, span := traced(r, "ingest notifications")
	defer span.End()
	const route = "/v1/notifications"
	if !h.admit(w, r, route, h.opts.NotificationAuth) {
		return
	}
	body, ok := h.readJSON(w, r, route)
	if !ok {
		return
	}
	n, err := graphwire.ParseNotifications(body)
	if err != nil {
		h.invalid(w, r, route, err)
		return
	}
	// Refuse what would store more than the budget before making a single
	// event, so that the memory a request takes is bounded as well.
	if size, count := inbound.DataSize(n); size > inbound.StoreBudget(len(body), count) {
		h.tooLarge(w, r, route, len(body), size, count)
		return
	}
	in, err := inbound.NotificationEvents(n, h.inboundOptions(r))
	if err != nil {
		h.invalid(w, r, route, err)
		return
	}
	h.store(w, r, route, len(body), in)
}

func (h *Handler) responses(w http.ResponseWriter, r *http.Request) {
	r, span := traced(r, "ingest responses")
	defer span.End()
	const route = "/v1/responses"
	if !h.admit(w, r, route, h.opts.ResponseAuth) {
		return
	}
	body, ok := h.readJSON(w, r, route)
	if !ok {
		return
	}
	parsed, err := graphwire.ParseActionResponse(body)
	if err != nil {
		h.invalid(w, r, route, err)
		return
	}
	in, err := inbound.ResponseEvent(parsed, body, h.inboundOptions(r))
	if err != nil {
		h.invalid(w, r, route, err)
		return
	}
	h.store(w, r, route, len(body), []inbound.Inbound{in})
}

func (h *Handler) inboundOptions(r *http.Request) inbound.Options {
	return inbound.Options{
		ReceivedAt: h.opts.Now(),
		MessageID:  r.Header.Get("X-Microsoft-Skype-Message-ID"),
		// The request span's own context: a traceparent header that did not
		// parse is ignored (W3C trace context), never carried as sent.
		TraceParent: tracing.TraceParent(r.Context(), ""),
	}
}

// traced starts the request's span as a child of its W3C traceparent; with no
// exporter configured the span is a no-op that keeps the caller's context.
// The request keeps its context when the span neither records nor carries a
// trace (no exporter, no valid traceparent): the new one would read the same.
func traced(r *http.Request, name string) (*http.Request, trace.Span) {
	ctx := tracing.FromTraceParent(r.Context(), r.Header.Get("traceparent"))
	ctx, span := tracing.Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
	if !span.IsRecording() && !span.SpanContext().IsValid() {
		return r, span
	}
	return r.WithContext(ctx), span
}

// admit decides from the request's headers alone, before any byte of the
// body is read, whether it may go on: its credentials, its content type and
// its announced length. A refusal closes the connection, so that the server
// does not read the rest of the body before answering.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, route string, a Authenticator) bool {
	if a != nil {
		if err := a.Authenticate(r); err != nil {
			h.refuse(w, r, route, reasonUnauthorized, http.StatusUnauthorized, problem.Unauthorized,
				"authentication failed: "+err.Error(), err)
			return false
		}
	}
	ct := r.Header.Get("Content-Type")
	if ct != "application/json" { // the usual value needs no parsing
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			h.refuse(w, r, route, reasonContentType, http.StatusUnsupportedMediaType, problem.ContentType,
				fmt.Sprintf("Content-Type %q is not JSON: send application/json", clip(ct)), nil)
			return false
		}
	}
	if r.ContentLength > h.opts.MaxBodyBytes {
		h.refuse(w, r, route, reasonTooLarge, http.StatusRequestEntityTooLarge, problem.TooLarge,
			fmt.Sprintf("nothing was stored: the body of %d bytes is over %d", r.ContentLength, h.opts.MaxBodyBytes), nil)
		return false
	}
	return true
}

// reject answers a refused request with a problem (detail clipped), counts
// it and logs a sample (see rejections).
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, route, reason string, status int, typ, detail string, err error) {
	if err == nil {
		err = errors.New(detail)
	}
	h.rj.record(r.Context(), r, route, reason, status, err)
	problem.Write(w, status, typ, clip(detail), 0)
}

// refuse is reject for a request refused before its body was read: the
// answer closes the connection, since Go's server would otherwise read up
// to 256 KiB of a body nobody wants, at the client's pace, before answering.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, route, reason string, status int, typ, detail string, err error) {
	if r.Body != nil && r.Body != http.NoBody {
		w.Header().Set("Connection", "close")
	}
	h.reject(w, r, route, reason, status, typ, detail, err)
}

// readJSON reads the body within the size limit.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request, route string) ([]byte, bool) {
	// The hint is capped: a client could announce a large body and send little.
	body, err := readAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes), min(r.ContentLength, h.opts.MaxBodyBytes, 64<<10))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.reject(w, r, route, reasonTooLarge, http.StatusRequestEntityTooLarge, problem.TooLarge,
				fmt.Sprintf("nothing was stored: the body is over %d bytes", h.opts.MaxBodyBytes), err)
			return nil, false
		}
		h.reject(w, r, route, reasonInvalid, http.StatusBadRequest, problem.Invalid, "reading the body failed: "+err.Error(), err)
		return nil, false
	}
	if !utf8.Valid(body) {
		// encoding/json would silently turn invalid bytes into U+FFFD.
		h.reject(w, r, route, reasonInvalid, http.StatusBadRequest, problem.Invalid,
			"nothing was stored: the body is not valid UTF-8 (RFC 8259)", nil)
		return nil, false
	}
	return body, true
}

// readAll is io.ReadAll starting with room for sizeHint bytes (the
// Content-Length, when the client sent one), so that a body is read into one
// allocation.
func readAll(r io.Reader, sizeHint int64) ([]byte, error) {
	b := make([]byte, 0, max(512, sizeHint+1)) // +1: room to read the EOF without growing
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			// Doubling: at most twice what the client has sent (append's
			// growth of large slices by a quarter would copy a 1 MiB body
			// a dozen times over).
			b = slices.Grow(b, cap(b))
		}
	}
}

// invalid answers input that cannot be stored as sent: 413 for too many
// resources or too much to store, else 400; the detail says why.
func (h *Handler) invalid(w http.ResponseWriter, r *http.Request, route string, err error) {
	status, typ, reason := http.StatusBadRequest, problem.Invalid, reasonInvalid
	if errors.Is(err, events.ErrTooManyItems) || errors.Is(err, events.ErrTooLarge) {
		status, typ, reason = http.StatusRequestEntityTooLarge, problem.TooLarge, reasonTooLarge
	}
	h.reject(w, r, route, reason, status, typ, "nothing was stored: "+err.Error(), err)
}

// tooLarge answers a request whose events would store more than
// inbound.StoreBudget allows.
func (h *Handler) tooLarge(w http.ResponseWriter, r *http.Request, route string, bodyLen, size, count int) {
	h.invalid(w, r, route, fmt.Errorf("%w: its %d events would store %d bytes, over the %d allowed for a body of %d bytes (4 × body + %d per event)",
		events.ErrTooLarge, count, size, inbound.StoreBudget(bodyLen, count), bodyLen, inbound.BudgetPerEvent))
}

// store answers 202 once every event is stored; 413 or 400 when the events
// can never be stored (nothing is); 503 + Retry-After only when JetStream is
// unavailable or slow, so that a retry may succeed.
func (h *Handler) store(w http.ResponseWriter, r *http.Request, route string, bodyLen int, in []inbound.Inbound) {
	size := 0
	for _, ev := range in {
		size += ev.Size()
	}
	if size > inbound.StoreBudget(bodyLen, len(in)) {
		h.tooLarge(w, r, route, bodyLen, size, len(in))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.StoreTimeout)
	defer cancel()
	start := time.Now()
	err := h.opts.Store.Store(ctx, in)
	h.m.storeSeconds.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
	case errors.Is(err, events.ErrTooLarge) || !errors.Is(err, events.ErrNotStored) && isInputError(err):
		h.invalid(w, r, route, err)
		return
	default:
		h.opts.Log.Error("store failed; answering 503", "route", route, "events", len(in), "err", err)
		problem.Write(w, http.StatusServiceUnavailable, problem.Unavailable,
			"JetStream could not store the request; nothing is acknowledged, retry later", h.opts.RetryAfter)
		return
	}
	ids := make([]string, len(in))
	debug := h.opts.Log.Enabled(r.Context(), slog.LevelDebug)
	for i, ev := range in {
		ids[i] = ev.ID()
		h.m.eventsByType.inc(ev.Type())
		if !debug {
			continue
		}
		h.opts.Log.Debug("event stored", "type", ev.Type(), "id", ev.ID(), "subject", ev.Subject,
			"client_context", ev.EventSubject())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(appendStored(make([]byte, 0, 32+48*len(ids)), ids))
}

// isInputError reports whether a Store error says the events themselves
// cannot be stored (one of pkg/events' input errors), not that JetStream
// failed.
func isInputError(err error) bool {
	for _, s := range []error{events.ErrNotCloudEvent, events.ErrInvalidPayload, events.ErrValueTooLong, events.ErrBadHeaderEncoding} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// readyz answers 200 when JetStream accepts writes, else 503 without saying
// why: the reason (an internal error) is logged, once per change, never
// sent to whoever asks.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.opts.Ready == nil {
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	h.readyMu.Lock()
	if time.Since(h.readyAt) > time.Second {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		err := h.opts.Ready(ctx)
		cancel()
		switch {
		case err != nil && (h.readyError == nil || h.readyError.Error() != err.Error()):
			h.opts.Log.Warn("not ready: JetStream does not accept writes", "err", err)
		case err == nil && h.readyError != nil:
			h.opts.Log.Info("ready: JetStream accepts writes again")
		}
		h.readyError, h.readyAt = err, time.Now()
	}
	err := h.readyError
	h.readyMu.Unlock()
	if err != nil {
		problem.Write(w, http.StatusServiceUnavailable, problem.Unavailable, "not ready", h.opts.RetryAfter)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}
