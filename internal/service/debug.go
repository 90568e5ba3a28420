package service

import (
	"context"
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

// ServeDebug serves DebugMux on addr until ctx ends; "off" or "" serves
// nothing. It returns the bound address (nil when off) or why it could not
// listen.
func ServeDebug(ctx context.Context, addr string, log *slog.Logger) (net.Addr, error) {
	if addr == "" || addr == "off" {
		return nil, nil
	}
	// A profile takes its seconds to answer: no write timeout.
	srv := NewHTTPServerWithLimits(addr, DebugMux(), log, HTTPLimits{
		ReadHeaderTimeout: DefaultHTTPLimits.ReadHeaderTimeout, ReadTimeout: DefaultHTTPLimits.ReadTimeout,
		IdleTimeout: DefaultHTTPLimits.IdleTimeout, MaxHeaderBytes: DefaultHTTPLimits.MaxHeaderBytes})
	bound, errc, err := Serve(srv)
	if err != nil {
		return nil, err
	}
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
