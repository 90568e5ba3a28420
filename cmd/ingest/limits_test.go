package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/natstest"
	"github.com/commsops/commsops/internal/service/servicetest"
)

// TestBodyLimitFitsMaxPayload: against a server whose max_payload is 64 KiB
// the default INGEST_MAX_BODY_BYTES (1 MiB) is lowered to 64 KiB minus the
// header room: a body above it gets 413 (it used to get 503 after JetStream
// refused it, retried forever), one below it is stored.
func TestBodyLimitFitsMaxPayload(t *testing.T) {
	const maxPayload = 64 << 10
	srv := natstest.Run(t, func(o *server.Options) { o.MaxPayload = maxPayload })
	addr := servicetest.FreeAddr(t)
	setEnv(t, srv.URL(), addr)
	p := servicetest.Start(t, runBinary)
	defer p.Stop(t, 10*time.Second)
	url := "http://" + addr + "/v1/notifications"
	servicetest.WaitFor(t, "never stored", servicetest.HTTP(http.MethodPost, url, callback, http.StatusAccepted))

	padded := func(n int) string { // callback grown to n bytes by an unknown member of its item
		pad := `,"pad":"` + strings.Repeat("x", n-len(callback)-len(`,"pad":""`)) + `"`
		return strings.Replace(callback, `"changeType"`, pad[1:]+`,"changeType"`, 1)
	}
	limit := maxPayload - inbound.MaxHeaderBytes
	for _, tc := range []struct {
		size, want int
	}{
		{limit + 1, http.StatusRequestEntityTooLarge},
		{maxPayload - 100, http.StatusRequestEntityTooLarge},
		{limit, http.StatusAccepted},
	} {
		if err := servicetest.HTTP(http.MethodPost, url, padded(tc.size), tc.want)(); err != nil {
			t.Fatalf("body of %d bytes: %v", tc.size, err)
		}
	}
}

// TestBodyLimit: INGEST_MAX_BODY_BYTES is kept when the server takes it with
// the header room, else lowered with a log line saying so.
func TestBodyLimit(t *testing.T) {
	for _, tc := range []struct {
		configured, maxPayload, want int64
		err                          bool
	}{
		{1 << 20, 1 << 20, 1<<20 - inbound.MaxHeaderBytes, false},
		{64 << 10, 1 << 20, 64 << 10, false},
		{1 << 20, 8 << 20, 1 << 20, false},
		{1 << 20, inbound.MaxHeaderBytes, 0, true},
		{0, 1 << 20, 0, true},
	} {
		var logs strings.Builder
		got, err := bodyLimit(tc.configured, tc.maxPayload, slog.New(slog.NewTextHandler(&logs, nil)))
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("bodyLimit(%d, %d) = %d, %v; want %d", tc.configured, tc.maxPayload, got, err, tc.want)
		}
		if lowered := err == nil && got < tc.configured; lowered != strings.Contains(logs.String(), "INGEST_MAX_BODY_BYTES lowered") {
			t.Errorf("bodyLimit(%d, %d): lowered %v, logged %q", tc.configured, tc.maxPayload, lowered, logs.String())
		}
	}
}

// TestMaxConnsCapsConnections: with INGEST_MAX_CONNS=2 and two connections
// held open, a third is not served until one of them closes.
func TestMaxConnsCapsConnections(t *testing.T) {
	srv := natstest.Run(t)
	addr := servicetest.FreeAddr(t)
	setEnv(t, srv.URL(), addr, "INGEST_MAX_CONNS", "2")
	p := servicetest.Start(t, runBinary)
	defer p.Stop(t, 10*time.Second)
	servicetest.WaitFor(t, "never healthy", servicetest.HTTP(http.MethodGet, "http://"+addr+"/healthz", "", http.StatusOK))
	http.DefaultClient.CloseIdleConnections()

	get := func(c net.Conn, wait time.Duration) error {
		if _, err := fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Two kept-alive connections, each proven accepted by an answer. The
	// probe's connection above may still hold a slot until the server sees
	// it closed, so each is retried until served.
	held := make([]net.Conn, 2)
	for i := range held {
		servicetest.WaitFor(t, "connection not served", func() error {
			held[i] = dial()
			err := get(held[i], time.Second)
			if err != nil {
				held[i].Close() // never to take a slot later
			}
			return err
		})
	}
	third := dial()
	if err := get(third, time.Second); err == nil {
		t.Fatal("a third connection was served while two were held with INGEST_MAX_CONNS=2")
	}
	held[0].Close()
	// The request sent above is still pending on the third connection.
	_ = third.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatalf("the third connection was not served once a slot freed: %v", err)
	}
	resp.Body.Close()
}

// TestTokenEntriesWithWhiteSpace: an INGEST_RESPONSE_TOKENS entry that no
// bearer token can match (white space around it, or empty) stops the start
// with a message naming the entry's position, never the token.
func TestTokenEntriesWithWhiteSpace(t *testing.T) {
	const tok = "0123456789abcdef0123"
	for _, tc := range []struct{ tokens, want string }{
		{tok + ", fedcba9876543210fedc", "entry 2 of 2"},
		{" " + tok, "entry 1 of 1"},
		{tok + ",,fedcba9876543210fedc", "entry 2 of 3 is empty"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			srv := natstest.Run(t)
			setEnv(t, srv.URL(), "", "INGEST_AUTH", "graph", "INGEST_JWT_AUDIENCE", "bot-app", "INGEST_RESPONSE_TOKENS", tc.tokens)
			err := run(context.Background(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tok[:8]) || strings.Contains(err.Error(), "fedcba98") {
				t.Fatalf("err = %v, want %q and no token", err, tc.want)
			}
		})
	}
}
