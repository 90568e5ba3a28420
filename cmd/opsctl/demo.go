package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/commsops/commsops/internal/demo"
)

// cmdDemo feeds the bundled sample capture through a running ingest.
func cmdDemo(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080", "the ingest's base URL")
	token := fs.String("token", "", "bearer token for the ingest (with INGEST_AUTH=graph, /v1/notifications needs Graph's JWT: use a dev-mode ingest)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	entries, err := demo.Capture()
	if err != nil {
		return err
	}
	err = demo.Feed(ctx, client, *url, *token, func(i int, e demo.Entry, status int) {
		fmt.Fprintf(stdout, "[%2d/%d] %-18s %d  %s\n", i+1, len(entries), e.Route, status, e.Note)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fed %d requests; expect %d resolved events (opsctl tail shows them)\n", len(entries), demo.ExpectedCount())
	return nil
}
