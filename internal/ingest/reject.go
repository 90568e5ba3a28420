package ingest

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a request is rejected: the reason label of
// commsops_ingest_rejected_total and the reason field of its log line.
const (
	reasonUnauthorized = "unauthorized"
	reasonContentType  = "unsupported_media_type"
	reasonTooLarge     = "too_large"
	reasonInvalid      = "invalid"
)

// rejectLogEvery is how often at most one line per reason is logged; the
// line carries how many rejections of that reason were not logged since.
const rejectLogEvery = 10 * time.Second

// rejections counts every rejected request and logs a sample of them: per
// reason at most one line per rejectLogEvery, so a flood of bad requests
// costs a counter increment each, not a log line each.
type rejections struct {
	log     *slog.Logger
	counter *prometheus.CounterVec
	now     func() time.Time

	mu      sync.Mutex
	reasons map[string]*rejectSample // keyed by reason; the set of reasons is fixed
}

type rejectSample struct {
	logged     time.Time
	suppressed int
}

func newRejections(log *slog.Logger, reg prometheus.Registerer, now func() time.Time) *rejections {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "commsops_ingest_rejected_total",
		Help: "Requests refused before anything was stored, by route and reason.",
	}, []string{"route", "reason"})
	reg.MustRegister(c)
	return &rejections{log: log, counter: c, now: now, reasons: make(map[string]*rejectSample)}
}

// record counts one rejection and logs it unless a line of the same reason
// was logged within rejectLogEvery. err's text is clipped.
func (rj *rejections) record(ctx context.Context, r *http.Request, route, reason string, status int, err error) {
	rj.counter.WithLabelValues(route, reason).Inc()
	now := rj.now()
	rj.mu.Lock()
	s := rj.reasons[reason]
	if s == nil {
		s = &rejectSample{}
		rj.reasons[reason] = s
	}
	if !s.logged.IsZero() && now.Sub(s.logged) < rejectLogEvery {
		s.suppressed++
		rj.mu.Unlock()
		return
	}
	suppressed := s.suppressed
	s.logged, s.suppressed = now, 0
	rj.mu.Unlock()
	level := slog.LevelInfo
	if status == http.StatusUnauthorized {
		level = slog.LevelWarn
	}
	rj.log.Log(ctx, level, "request rejected", "route", route, "reason", reason, "status", status,
		"remote", r.RemoteAddr, "err", clip(errText(err)), "suppressed", suppressed)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// maxEcho is the most bytes of any text built from input (an error message,
// a header value) that an answer or a log line carries.
const maxEcho = 200

// clip returns s cut to maxEcho bytes at a rune boundary, marked when cut.
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
