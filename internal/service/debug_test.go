package service

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServeDebug(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{"", "off"} {
		t.Run("off/"+addr, func(t *testing.T) {
			bound, err := ServeDebug(context.Background(), addr, log)
			if bound != nil || err != nil {
				t.Fatalf("ServeDebug(%q) = %v, %v; want nothing served", addr, bound, err)
			}
		})
	}
	t.Run("bad address", func(t *testing.T) {
		if _, err := ServeDebug(context.Background(), "127.0.0.1:notaport", log); err == nil {
			t.Fatal("ServeDebug accepted an address it cannot listen on")
		}
	})
	t.Run("serves profiles until ctx ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		bound, err := ServeDebug(ctx, "127.0.0.1:0", log)
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + bound.String() + "/debug/pprof/goroutine?debug=1"
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
			t.Fatalf("GET %s: %d %.80q", url, res.StatusCode, body)
		}
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for {
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			if _, err := c.Get(url); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the debug listener still answers after ctx ended")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
