// Package opsapi serves the operations API of the ingest's internal listener:
// the state of a clientContext's operations with blocking queries, a
// Server-Sent Events stream of its resolved events, and POST /v1/responses.
// Every route is built on events.Operations, so no request creates a
// JetStream consumer: one process's awaits and streams share its one feed.
package opsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/internal/problem"
	"github.com/commsops/commsops/pkg/events"
)

// MaxWait is the longest wait a blocking query may ask for.
const MaxWait = 60 * time.Second

// Options configures the handler.
type Options struct {
	// Ops answers every query (required).
	Ops *events.Operations
	// Auth guards every route; nil lets every request in.
	Auth func(r *http.Request) error
	// Responses serves POST /v1/responses (required).
	Responses http.Handler
	// KeepAlive is the period of the event stream's comment lines (default 15s).
	KeepAlive time.Duration
	// Registry receives the handler's metrics; nil registers none.
	Registry prometheus.Registerer
	// Log receives failures; nil is slog.Default().
	Log *slog.Logger
}

// ErrOptions is returned (wrapped) by NewHandler for missing options.
var ErrOptions = errors.New("opsapi: invalid options")

type handler struct {
	o       Options
	mux     *http.ServeMux
	waiting prometheus.Gauge
	streams prometheus.Gauge
}

// NewHandler returns the API's handler.
func NewHandler(o Options) (http.Handler, error) {
	if o.Ops == nil || o.Responses == nil {
		return nil, fmt.Errorf("%w: Ops and Responses are required", ErrOptions)
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 15 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	h := &handler{o: o, mux: http.NewServeMux(),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "commsops_api_waiting_queries", Help: "Blocking operation queries waiting."}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "commsops_api_open_streams", Help: "Open operation event streams."}),
	}
	if o.Registry != nil {
		if err := o.Registry.Register(h.waiting); err != nil {
			return nil, fmt.Errorf("opsapi: metrics: %w", err)
		}
		if err := o.Registry.Register(h.streams); err != nil {
			return nil, fmt.Errorf("opsapi: metrics: %w", err)
		}
	}
	h.mux.Handle("POST /v1/responses", o.Responses)
	h.mux.HandleFunc("GET /v1/operations/{clientContext}", h.state)
	h.mux.HandleFunc("GET /v1/operations/{clientContext}/events", h.events)
	return h, nil
}

// ServeHTTP authenticates the request before anything else.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.o.Auth != nil {
		if err := h.o.Auth(r); err != nil {
			problem.Write(w, http.StatusUnauthorized, problem.Unauthorized, "a bot bearer token is required", 0)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// stateAnswer is the body of GET /v1/operations/{clientContext}.
type stateAnswer struct {
	ClientContext string                     `json:"clientContext"`
	Operations    []events.ResolvedOperation `json:"operations"`
	Index         uint64                     `json:"index"`
	Done          bool                       `json:"done"`
}

// state answers the clientContext's operations now, or once the selected
// operation has an awaited status or the wait ends.
func (h *handler) state(w http.ResponseWriter, r *http.Request) {
	cc := r.PathValue("clientContext")
	q, err := parseQuery(r)
	if err == nil {
		err = validClientContext(cc)
	}
	if err != nil {
		problem.Write(w, http.StatusBadRequest, problem.Invalid, err.Error(), 0)
		return
	}
	done := false
	if q.wait > 0 {
		h.waiting.Inc()
		// The answer may come after the server's write timeout.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(q.wait + 10*time.Second))
		ctx, cancel := context.WithTimeout(r.Context(), q.wait)
		_, err := h.o.Ops.Await(ctx, cc, q.awaitOptions()...)
		cancel()
		h.waiting.Dec()
		var ae *events.AwaitError
		switch {
		case err == nil:
			done = true
		case r.Context().Err() != nil:
			return // the client left
		case !errors.As(err, &ae):
			h.unavailable(w, err)
			return
		}
	}
	v, err := h.o.Ops.Lookup(r.Context(), cc)
	if err != nil {
		h.unavailable(w, err)
		return
	}
	if len(v.Operations) == 0 && q.wait == 0 {
		problem.Write(w, http.StatusNotFound, problem.NotFound, "nothing is resolved for this clientContext", 0)
		return
	}
	if op := v.Select(q.operationID); op != nil && slices.Contains(q.until, op.Status) {
		done = true
	}
	ops := v.Operations
	if ops == nil {
		ops = []events.ResolvedOperation{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Commsops-Index", strconv.FormatUint(v.Index, 10))
	_ = json.NewEncoder(w).Encode(stateAnswer{ClientContext: cc, Operations: ops, Index: v.Index, Done: done})
}

// events streams the clientContext's resolved events as Server-Sent Events:
// the stored ones after Last-Event-ID (all without it), then live ones, with
// a comment line every KeepAlive.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	cc := r.PathValue("clientContext")
	if err := validClientContext(cc); err != nil {
		problem.Write(w, http.StatusBadRequest, problem.Invalid, err.Error(), 0)
		return
	}
	var after uint64
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(id), 10, 64)
		if err != nil {
			problem.Write(w, http.StatusBadRequest, problem.Invalid, "Last-Event-ID must be an event id of this stream (a sequence number)", 0)
			return
		}
		after = n
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h.streams.Inc()
	defer h.streams.Dec()
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	type item struct {
		r   *events.Resolved
		err error
	}
	items := make(chan item, 64)
	go func() {
		defer close(items)
		for res, err := range h.o.Ops.Watch(ctx, cc) {
			select {
			case items <- item{res, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(h.o.KeepAlive)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		case it, ok := <-items:
			if !ok {
				return
			}
			if it.err != nil {
				h.o.Log.Warn("operations stream read failed", "err", it.err)
				continue
			}
			if it.r.Seq <= after {
				continue
			}
			err = writeEvent(w, it.r)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// writeEvent writes one SSE message: the stream sequence as id, the
// CloudEvents type as event, the event in JSON structured format as data.
func writeEvent(w http.ResponseWriter, r *events.Resolved) error {
	b, err := json.Marshal(r.Event)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", r.Seq, r.Event.Type(), b)
	return err
}

func (h *handler) unavailable(w http.ResponseWriter, err error) {
	h.o.Log.Warn("operations look-up failed", "err", err)
	problem.Write(w, http.StatusServiceUnavailable, problem.Unavailable, "JetStream did not answer the look-up; retry", time.Second)
}

// query is the parsed query string of GET /v1/operations/{clientContext}.
type query struct {
	wait        time.Duration
	until       []events.Status
	operationID string
}

func parseQuery(r *http.Request) (query, error) {
	v := r.URL.Query()
	for _, name := range []string{"wait", "until", "operationId"} {
		if len(v.Get(name)) > 256 {
			return query{}, fmt.Errorf("%s is longer than 256 bytes", name)
		}
	}
	q := query{operationID: v.Get("operationId")}
	if s := v.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > MaxWait {
			return q, fmt.Errorf("wait=%.32q must be a duration of at most %v (e.g. 30s)", s, MaxWait)
		}
		q.wait = d
	}
	until, err := parseUntil(v.Get("until"))
	if err != nil {
		return q, fmt.Errorf("until: %w", err)
	}
	q.until = until
	return q, nil
}

func (q query) awaitOptions() []events.AwaitOption {
	opts := []events.AwaitOption{events.UntilStatus(q.until...)}
	if graphid.NormalizeID(q.operationID) != "" {
		opts = append(opts, events.ForOperation(q.operationID))
	}
	return opts
}

// terminal is what until=terminal (the default) awaits.
var terminal = []events.Status{events.StatusCompleted, events.StatusFailed, events.StatusStalled}

// parseUntil reads "terminal" (or "") or a comma list of statuses.
func parseUntil(s string) ([]events.Status, error) {
	if t := strings.TrimSpace(s); t == "" || strings.EqualFold(t, "terminal") {
		return terminal, nil
	}
	var out []events.Status
	for _, f := range strings.Split(s, ",") {
		st, err := events.ParseStatus(f)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// validClientContext refuses an empty clientContext and what
// events.ValidateClientContext refuses.
func validClientContext(cc string) error {
	if cc == "" {
		return errors.New("the clientContext path segment is empty")
	}
	return graphid.ValidateClientContext(cc)
}
