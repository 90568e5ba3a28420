package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// procProfiler takes the CPU profile of the commsops process under test in
// one phase of the first run (-cpuprofile with -layout processes): the
// resolver in the resolver and latency phases, the ingest in the ingest
// phase. The process serves it on COMMSOPS_DEBUG_ADDR. nats-server's profile
// over the same seconds goes to the same path with ".nats-server" appended.
type procProfiler struct {
	path, phase string
	taken       bool
	natsAddr    string // nats-server's profiling port, when profiling
}

// natsArgs returns nats-server's arguments that open its profiling port
// when a profile is asked for.
func (pp *procProfiler) natsArgs() ([]string, error) {
	if pp == nil || pp.path == "" {
		return nil, nil
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pp.natsAddr = addr
	_, port, _ := strings.Cut(addr, ":")
	return []string{"--profile", port}, nil
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
// in the background, as soon as p's debug listener answers, and nats-server's
// over the same seconds into the file beside it; the returned function waits
// for both and returns their errors. With url "" it does nothing.
func (pp *procProfiler) take(ctx context.Context, p *proc, url string, seconds int) func() error {
	if url == "" {
		return func() error { return nil }
	}
	done := make(chan error, 2)
	go func() {
		if err := waitReady(ctx, p, strings.TrimSuffix(url, "/profile")+"/cmdline", 30*time.Second); err != nil {
			done <- fmt.Errorf("cpuprofile: %w", err)
			done <- nil
			return
		}
		go func() {
			done <- pp.fetch(ctx, "nats-server", "http://"+pp.natsAddr+"/debug/pprof/profile", seconds, pp.path+".nats-server")
		}()
		done <- pp.fetch(ctx, p.name, url, seconds, pp.path)
	}()
	return func() error { return errors.Join(<-done, <-done) }
}

// fetch writes seconds of the CPU profile url serves (name's) to path.
func (pp *procProfiler) fetch(ctx context.Context, name, url string, seconds int, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?seconds="+strconv.Itoa(seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cpuprofile of %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpuprofile of %s: %s", name, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cpuprofile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("cpuprofile of %s: %w", name, err)
	}
	return f.Close()
}
