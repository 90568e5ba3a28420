package opsapi

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/service"
	"github.com/commsops/commsops/pkg/events"
)

// Start serves the API on addr over a new events.Operations on js (o.Ops is
// set here), and returns the server, its bound address and the channel of its
// serve error. Shutting the server down closes the Operations first, so open
// streams and blocking queries end. addr "off" serves nothing: a nil server
// and a channel that never receives.
func Start(js jetstream.JetStream, addr string, o Options) (*http.Server, net.Addr, <-chan error, error) {
	if strings.EqualFold(strings.TrimSpace(addr), "off") {
		return nil, nil, make(chan error), nil
	}
	if o.Log == nil {
		return nil, nil, nil, fmt.Errorf("%w: Log is required", ErrOptions)
	}
	log := o.Log
	ops, err := events.NewOperations(js, events.OperationsErrorHandler(func(err error) {
		log.Warn("operations feed", "err", err)
	}))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("operations API: %w", err)
	}
	o.Ops = ops
	h, err := NewHandler(o)
	if err != nil {
		_ = ops.Close()
		return nil, nil, nil, err
	}
	srv := service.NewHTTPServer(addr, h, log)
	srv.RegisterOnShutdown(func() { _ = ops.Close() })
	bound, errc, err := service.Serve(srv)
	if err != nil {
		_ = ops.Close()
		return nil, nil, nil, fmt.Errorf("operations API: %w", err)
	}
	return srv, bound, errc, nil
}
