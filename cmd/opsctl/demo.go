package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/commsops/commsops/internal/demo"
)

// cmdDemo feeds the bundled sample capture through a running ingest.
func cmdDemo(ctx context.Context, cio cmdIO, args []string) error {
	fs := newFlags(cio, "demo", "[-url http://127.0.0.1:8080] [-token T]",
		"Post the bundled capture of one call (Graph callbacks and bot action responses: the race,\na retry, a cancelled recording, an invite with a null id, ...) to a running ingest, in\nrecorded order. Watch the outcome with opsctl tail, or afterwards opsctl replay -since 10m.")
	base := fs.String("url", "http://127.0.0.1:8080", "the ingest's base URL")
	token := fs.String("token", "", "bearer token sent with each request (one of INGEST_RESPONSE_TOKENS); an ingest with INGEST_AUTH=graph also wants Graph's JWT on /v1/notifications, so feed a dev-mode ingest")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of each request")
	pos, err := parse(fs, cio, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("demo takes no arguments (got %q)", pos)
	}
	if u, err := url.Parse(*base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("-url %q: give the ingest's base URL, like http://127.0.0.1:8080", *base)
	}
	entries, err := demo.Capture()
	if err != nil {
		return err
	}
	fmt.Fprintf(cio.out, "feeding %d recorded requests to %s\n", len(entries), *base)
	client := &http.Client{Timeout: *timeout}
	err = demo.Feed(ctx, client, *base, *token, func(i int, e demo.Entry, status int) {
		fmt.Fprintf(cio.out, "[%2d/%d] %-18s %d  %s\n", i+1, len(entries), e.Route, status, e.Note)
	})
	if err != nil {
		var ue *url.Error
		switch {
		case errors.As(err, &ue):
			return fmt.Errorf("%w: start one with `go run ./cmd/devstack`, or pass -url", err)
		case strings.Contains(err.Error(), " answered 401"):
			return fmt.Errorf("%w: the ingest wants authentication: pass -token (one of its INGEST_RESPONSE_TOKENS), or feed a dev-mode ingest (`go run ./cmd/devstack`)", err)
		}
		return err
	}
	fmt.Fprintf(cio.out, "fed %d requests; they resolve to %d events (opsctl replay -since 10m shows them)\n", len(entries), demo.ExpectedCount())
	return nil
}
