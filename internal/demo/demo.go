// Package demo holds a bundled capture of Graph callbacks and bot action
// responses for one call (the race, a retry, a cancelled recording, an invite
// with a null id, a terminal response, a null operation, call state and
// roster) and feeds it to a running ingest over HTTP.
package demo

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/commsops/commsops/pkg/events"
)

//go:embed capture.jsonl
var capture []byte

// Entry is one recorded request.
type Entry struct {
	Note    string            `json:"note"`
	Route   string            `json:"route"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body"`
}

// Capture returns the bundled entries in recorded order.
func Capture() ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(capture))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("demo: capture line %d: %w", len(out)+1, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Expected is what the capture resolves to: per clientContext, the statuses
// emitted in order.
var Expected = map[string][]events.Status{
	"d45324c1-fcb5-430a-902c-f20af696537c": {events.StatusCompleted},
	"rec-7f3a":                             {events.StatusRunning, events.StatusFailed},
	"invite-42":                            {events.StatusRunning, events.StatusCompleted},
	"mute-9":                               {events.StatusCompleted},
	"tone-1":                               {events.StatusRunning, events.StatusCompleted},
}

// ExpectedCount is the number of resolved events the capture yields.
func ExpectedCount() int {
	n := 0
	for _, s := range Expected {
		n += len(s)
	}
	return n
}

// Feed posts every entry to the ingest at baseURL in order, calling progress
// (when not nil) after each, and returns the first request that was not
// answered 202. token, when not empty, is sent as a bearer token.
func Feed(ctx context.Context, client *http.Client, baseURL, token string, progress func(i int, e Entry, status int)) error {
	entries, err := Capture()
	if err != nil {
		return err
	}
	for i, e := range entries {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+e.Route, bytes.NewReader(e.Body))
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "commsops-demo")
		for k, v := range e.Headers {
			req.Header.Set(k, v)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("demo: POST %s: %w (is the ingest running at %s?)", e.Route, err, baseURL)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if progress != nil {
			progress(i, e, resp.StatusCode)
		}
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("demo: POST %s answered %d: %s", e.Route, resp.StatusCode, bytes.TrimSpace(body))
		}
	}
	return nil
}
