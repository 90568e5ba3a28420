package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HealthMux returns the internal listener's routes of a worker process:
// GET /healthz (200 while the process runs), GET /readyz (200 when ready
// returns nil, else 503 with its error) and GET /metrics of reg.
func HealthMux(ready func(context.Context) error, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// RunUntilDone serves srv until ctx ends (SIGTERM) or srv fails, then stops
// the process's worker with stop and shuts srv down, both within the one
// shutdown deadline. It returns srv's failure or stop's and the shutdown's
// errors joined.
func RunUntilDone(ctx context.Context, srv *http.Server, stop func(context.Context) error, shutdown *ShutdownDeadline, log *slog.Logger) error {
	addr, errc, err := Serve(srv)
	if err != nil {
		_ = stop(shutdown.Context())
		return fmt.Errorf("http: %w", err)
	}
	log.Info("listening", "addr", addr.String())
	select {
	case err := <-errc:
		_ = stop(shutdown.Context())
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "deadline", shutdown.timeout)
	sctx := shutdown.Context()
	serr := stop(sctx)
	return errors.Join(serr, Shutdown(sctx, srv))
}
