package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

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
// nil only when every event is stored. *events.Publisher implements it.
type Store interface {
	Store(ctx context.Context, in []events.Inbound) error
}

// Options configures a Handler.
type Options struct {
	Store Store
	// Ready reports whether JetStream accepts writes (for /readyz).
	Ready func(ctx context.Context) error
	// NotificationAuth and ResponseAuth guard the two routes; nil lets all in.
	NotificationAuth Authenticator
	ResponseAuth     Authenticator
	// MaxBodyBytes bounds a request body (default 1 MiB).
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
	h := &Handler{opts: o, mux: http.NewServeMux(), m: newMetrics(o.Registry)}
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
	if !h.authenticate(w, r, h.opts.NotificationAuth) {
		return
	}
	body, ok := h.readJSON(w, r)
	if !ok {
		return
	}
	n, err := events.ParseNotifications(body)
	if err != nil {
		h.invalid(w, r, err)
		return
	}
	in, err := events.NotificationEvents(n, h.inboundOptions(r))
	if err != nil {
		h.invalid(w, r, err)
		return
	}
	h.store(w, r, in)
}

func (h *Handler) responses(w http.ResponseWriter, r *http.Request) {
	r, span := traced(r, "ingest responses")
	defer span.End()
	if !h.authenticate(w, r, h.opts.ResponseAuth) {
		return
	}
	body, ok := h.readJSON(w, r)
	if !ok {
		return
	}
	parsed, err := events.ParseActionResponse(body)
	if err != nil {
		h.invalid(w, r, err)
		return
	}
	in, err := events.ResponseEvent(parsed, body, h.inboundOptions(r))
	if err != nil {
		h.invalid(w, r, err)
		return
	}
	h.store(w, r, []events.Inbound{in})
}

func (h *Handler) inboundOptions(r *http.Request) events.InboundOptions {
	return events.InboundOptions{
		ReceivedAt:  h.opts.Now(),
		MessageID:   r.Header.Get("X-Microsoft-Skype-Message-ID"),
		TraceParent: tracing.TraceParent(r.Context(), r.Header.Get("traceparent")),
	}
}

// traced starts the request's span as a child of its W3C traceparent; with no
// exporter configured the span is a no-op that keeps the caller's context.
func traced(r *http.Request, name string) (*http.Request, trace.Span) {
	ctx := tracing.FromTraceParent(r.Context(), r.Header.Get("traceparent"))
	ctx, span := tracing.Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
	return r.WithContext(ctx), span
}

func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, a Authenticator) bool {
	if a == nil {
		return true
	}
	if err := a.Authenticate(r); err != nil {
		h.opts.Log.Warn("request not authenticated", "route", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		writeProblem(w, http.StatusUnauthorized, ProblemUnauthorized, "authentication failed: "+err.Error(), 0)
		return false
	}
	return true
}

// readJSON checks the content type and reads the body within the size limit.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	ct := r.Header.Get("Content-Type")
	if ct != "application/json" { // the usual value needs no parsing
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			writeProblem(w, http.StatusUnsupportedMediaType, ProblemContentType,
				fmt.Sprintf("Content-Type %q is not JSON: send application/json", ct), 0)
			return nil, false
		}
	}
	// The hint is capped: a client could announce a large body and send little.
	body, err := readAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes), min(r.ContentLength, h.opts.MaxBodyBytes, 64<<10))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(w, http.StatusRequestEntityTooLarge, ProblemTooLarge,
				fmt.Sprintf("the body is over %d bytes", h.opts.MaxBodyBytes), 0)
			return nil, false
		}
		writeProblem(w, http.StatusBadRequest, ProblemInvalid, "reading the body failed: "+err.Error(), 0)
		return nil, false
	}
	if !utf8.Valid(body) {
		// encoding/json would silently turn invalid bytes into U+FFFD.
		writeProblem(w, http.StatusBadRequest, ProblemInvalid, "nothing was stored: the body is not valid UTF-8 (RFC 8259)", 0)
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
			b = append(b, 0)[:len(b)]
		}
	}
}

func (h *Handler) invalid(w http.ResponseWriter, r *http.Request, err error) {
	h.opts.Log.Info("request rejected", "route", r.URL.Path, "err", err)
	status, typ := http.StatusBadRequest, ProblemInvalid
	if errors.Is(err, events.ErrTooManyItems) {
		status, typ = http.StatusRequestEntityTooLarge, ProblemTooLarge
	}
	writeProblem(w, status, typ, "nothing was stored: "+err.Error(), 0)
}

// store answers 202 once every event is stored, else 503 + Retry-After.
func (h *Handler) store(w http.ResponseWriter, r *http.Request, in []events.Inbound) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.StoreTimeout)
	defer cancel()
	start := time.Now()
	err := h.opts.Store.Store(ctx, in)
	h.m.storeSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		h.opts.Log.Error("store failed; answering 503", "route", r.URL.Path, "events", len(in), "err", err)
		writeProblem(w, http.StatusServiceUnavailable, ProblemUnavailable,
			"JetStream could not store the request; nothing is acknowledged, retry later", h.opts.RetryAfter)
		return
	}
	ids := make([]string, len(in))
	debug := h.opts.Log.Enabled(r.Context(), slog.LevelDebug)
	for i, ev := range in {
		ids[i] = ev.Event.ID()
		h.m.events.WithLabelValues(ev.Event.Type()).Inc()
		if !debug {
			continue
		}
		h.opts.Log.Debug("event stored", "type", ev.Event.Type(), "id", ev.Event.ID(), "subject", ev.Subject,
			"client_context", ev.Event.Subject())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = writeJSON(w, storedBody{Stored: len(in), IDs: ids})
}

// storedBody is the 202 answer: how many events were stored, and their ids.
type storedBody struct {
	Stored int      `json:"stored"`
	IDs    []string `json:"ids"`
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.opts.Ready == nil {
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	h.readyMu.Lock()
	if time.Since(h.readyAt) > time.Second {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		h.readyError = h.opts.Ready(ctx)
		cancel()
		h.readyAt = time.Now()
	}
	err := h.readyError
	h.readyMu.Unlock()
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, ProblemUnavailable, "JetStream does not accept writes: "+err.Error(), h.opts.RetryAfter)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}
