package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
)

// Debug is the configuration of a long-running process's profiler; its
// config embeds it beside Common, and Boot serves it.
type Debug struct {
	DebugAddr string `envconfig:"COMMSOPS_DEBUG_ADDR" default:"off" desc:"listen address of the profiler, /debug/pprof/ (off: none; keep it off public networks)"`
}

// debugAddr returns the profiler's listen address ("off": none).
func (d *Debug) debugAddr() string { return d.DebugAddr }

// DebugMux returns the debug listener's routes: the runtime profiles of
// net/http/pprof under /debug/pprof/.
func DebugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// ServeDebug serves DebugMux on addr until ctx ends, and logs where; "off"
// or "" serves nothing. It returns the bound address (nil when off) or why it
// could not listen ("debug listener: ...").
func ServeDebug(ctx context.Context, addr string, log *slog.Logger) (net.Addr, error) {
	if addr == "" || addr == "off" {
		return nil, nil
	}
	limits := DefaultHTTPLimits
	limits.WriteTimeout = 0 // a profile takes its seconds to answer
	srv := NewHTTPServerWithLimits(addr, DebugMux(), log, limits)
	bound, errc, err := Serve(srv)
	if err != nil {
		return nil, fmt.Errorf("debug listener: %w", err)
	}
	log.Warn("profiler listening; keep it off public networks", "addr", bound.String())
	go func() {
		select {
		case <-ctx.Done():
			_ = srv.Close()
		case err := <-errc:
			if err != nil {
				log.Error("debug listener failed", "err", err)
			}
		}
	}()
	return bound, nil
}
