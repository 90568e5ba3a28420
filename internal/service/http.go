package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// HTTPLimits bounds what one client can hold of a server.
type HTTPLimits struct {
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
}

// DefaultHTTPLimits: headers within 5s, the whole request within 15s, the
// answer within 15s, idle keep-alive connections closed after 60s, headers at
// most 64 KiB.
var DefaultHTTPLimits = HTTPLimits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       15 * time.Second,
	WriteTimeout:      15 * time.Second,
	IdleTimeout:       60 * time.Second,
	MaxHeaderBytes:    64 << 10,
}

// NewHTTPServer returns an http.Server with DefaultHTTPLimits, so that slow
// or greedy clients cannot hold it.
func NewHTTPServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return NewHTTPServerWithLimits(addr, h, log, DefaultHTTPLimits)
}

// NewHTTPServerWithLimits returns an http.Server with the given limits.
func NewHTTPServerWithLimits(addr string, h http.Handler, log *slog.Logger, l HTTPLimits) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve listens on srv.Addr and serves in the background. It returns the bound
// address (useful with port 0) and a channel that receives the serve error
// (nil after a clean Shutdown).
func Serve(srv *http.Server) (net.Addr, <-chan error, error) {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", srv.Addr, err)
	}
	errc := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	return ln.Addr(), errc, nil
}

// Shutdown stops accepting connections and waits for in-flight requests to
// finish until ctx ends, then closes what is left.
func Shutdown(ctx context.Context, srv *http.Server) error {
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}
