package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"golang.org/x/net/netutil"
)

// serve listens on srv.Addr and serves in the background with at most
// maxConns connections open at once (INGEST_MAX_CONNS): further clients
// wait in the listen backlog until one closes, instead of each costing a
// goroutine and its buffers. It returns the bound address and a channel that
// receives the serve error (nil after a clean Shutdown), as service.Serve.
func serve(srv *http.Server, maxConns int) (net.Addr, <-chan error, error) {
	if maxConns < 1 {
		return nil, nil, fmt.Errorf("INGEST_MAX_CONNS=%d: at least 1", maxConns)
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", srv.Addr, err)
	}
	errc := make(chan error, 1)
	go func() {
		err := srv.Serve(netutil.LimitListener(ln, maxConns))
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	return ln.Addr(), errc, nil
}
