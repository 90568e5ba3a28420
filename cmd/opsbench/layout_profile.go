package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// procProfiler takes the CPU profile of the commsops process under test in
// one phase of the first run (-cpuprofile with -layout processes): the
// resolver in the resolver and latency phases, the ingest in the ingest
// phase. The process serves it on COMMSOPS_DEBUG_ADDR.
type procProfiler struct {
	path, phase string
	taken       bool
}

// arm returns the environment that opens the debug listener of phase's
// process and the profile's URL, or nothing when phase is not profiled
// (or its profile was taken).
func (pp *procProfiler) arm(phase string) (env []string, url string, err error) {
	if pp == nil || pp.path == "" || pp.taken || pp.phase != phase {
		return nil, "", nil
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	pp.taken = true
	return []string{"COMMSOPS_DEBUG_ADDR=" + addr}, "http://" + addr + "/debug/pprof/profile", nil
}

// take fetches seconds of p's CPU profile from url into the profile's file
// in the background, as soon as p's debug listener answers; the returned
// function waits for it and returns its error. With url "" it does nothing.
func (pp *procProfiler) take(ctx context.Context, p *proc, url string, seconds int) func() error {
	if url == "" {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		done <- pp.fetch(ctx, p, url, seconds)
	}()
	return func() error { return <-done }
}

func (pp *procProfiler) fetch(ctx context.Context, p *proc, url string, seconds int) error {
	var resp *http.Response
	for deadline := time.Now().Add(30 * time.Second); ; {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?seconds="+strconv.Itoa(seconds), nil)
		if err != nil {
			return err
		}
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		if !p.alive() || time.Now().After(deadline) {
			return fmt.Errorf("cpuprofile of %s: %w", p.name, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpuprofile of %s: %s", p.name, resp.Status)
	}
	f, err := os.Create(pp.path)
	if err != nil {
		return fmt.Errorf("cpuprofile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("cpuprofile of %s: %w", p.name, err)
	}
	return f.Close()
}
