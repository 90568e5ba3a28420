package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs are the child processes of the layout mode: the binaries it built,
// the environment every child gets, and every process it started, so that
// all of them are stopped at the end whatever happened.
type procs struct {
	dir   string   // temporary directory: binaries, JetStream store, logs
	gc    []string // GOGC=..., GOMEMLIMIT=... for the children of gcFor (-gc); none: Go's defaults
	gcFor []string // name prefixes of the children that get gc (-gc-for); none: every child

	mu   sync.Mutex
	list []*proc
}

// proc is one child process. Its output goes to a log file, whose tail an
// error quotes.
type proc struct {
	name    string
	cmd     *exec.Cmd
	log     string
	started time.Time
	done    chan struct{} // closed once the process has exited and been reaped
	mu      sync.Mutex
	exitCPU time.Duration // user + system CPU, once exited
	exited  bool
}

// newProcs makes the temporary directory of one layout invocation; gc goes
// to the children whose names start with one of gcFor's comma-separated
// prefixes ("": every child).
func newProcs(gc, gcFor string) (*procs, error) {
	dir, err := os.MkdirTemp("", "opsbench-layout-*")
	if err != nil {
		return nil, err
	}
	return &procs{dir: dir, gc: strings.Fields(gc), gcFor: strings.FieldsFunc(gcFor, func(r rune) bool { return r == ',' })}, nil
}

// build builds nats-server (from the module in go.mod, as deploy/local/run.sh
// does) and the shipped ingest and resolver binaries into the temporary
// directory.
func (ps *procs) build(ctx context.Context) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("layout: go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(ps.dir, "bin")+string(filepath.Separator),
		"github.com/nats-io/nats-server/v2", "./cmd/ingest", "./cmd/resolver")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("layout: go build: %w\n%s", err, out)
	}
	return nil
}

func (ps *procs) bin(name string) string { return filepath.Join(ps.dir, "bin", name) }

// childEnv is this process's environment without anything that configures
// commsops, NATS or Go's garbage collector, then -gc's settings when they
// are for the child called name, then env.
func (ps *procs) childEnv(name string, env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "GOGC", k == "GOMEMLIMIT", k == "OPSBENCH_SERVE", strings.HasPrefix(k, "NATS_"), strings.HasPrefix(k, "INGEST_"),
			strings.HasPrefix(k, "RESOLVER_"), strings.HasPrefix(k, "COMMSOPS_"), strings.HasPrefix(k, "OPSBENCH_"):
			continue
		}
		out = append(out, kv)
	}
	if len(ps.gcFor) == 0 || slices.ContainsFunc(ps.gcFor, func(prefix string) bool { return strings.HasPrefix(name, prefix) }) {
		out = append(out, ps.gc...)
	}
	return append(out, env...)
}

// start starts path with args and env (added to childEnv) as name.
func (ps *procs) start(name, path string, args, env []string) (*proc, error) {
	logPath := filepath.Join(ps.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child holds its own descriptor
	cmd := exec.Command(path, args...)
	cmd.Env = ps.childEnv(name, env)
	cmd.Stdout, cmd.Stderr = f, f
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("layout: start %s: %w", name, err)
	}
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.exited = true
		if st := cmd.ProcessState; st != nil {
			p.exitCPU = st.UserTime() + st.SystemTime()
		}
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// self starts this program again in serve mode (OPSBENCH_SERVE=mode).
func (ps *procs) self(name, mode string, env []string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return ps.start(name, exe, nil, append(env, serveEnv+"="+mode))
}

// cpu returns the process's user + system CPU time so far (from
// /proc/<pid>/stat), or in all once it has exited.
func (p *proc) cpu() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return p.exitCPU
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * time.Second / clockTick
}

// alive reports whether the process still runs.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// failed returns an error naming the process and quoting the end of its log.
func (p *proc) failed(what string) error {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	state := "running"
	if !p.alive() {
		state = p.cmd.ProcessState.String()
	}
	return fmt.Errorf("layout: %s %s (%s); its log ends:\n%s", p.name, what, state, b)
}

// stop sends SIGTERM and waits up to 15s for the process to exit, then kills it.
func (p *proc) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.kill()
	}
}

// kill sends SIGKILL and waits until the process is reaped.
func (p *proc) kill() {
	if p.alive() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// stopAll stops every process still running, the last started first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop()
	}
}

// cpu returns the CPU time all the processes started so far have used.
func (ps *procs) cpu() time.Duration {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var sum time.Duration
	for _, p := range ps.list {
		sum += p.cpu()
	}
	return sum
}

// close stops every process and removes the temporary directory.
func (ps *procs) close() {
	ps.stopAll()
	os.RemoveAll(ps.dir)
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls GET url until it answers 200, p exits or limit passes.
func waitReady(ctx context.Context, p *proc, url string, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !p.alive() {
			return p.failed("exited before it was ready")
		}
		if time.Now().After(deadline) {
			return p.failed(fmt.Sprintf("not ready at %s within %v", url, limit))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// gcName says which GC settings the layout's processes run with.
func gcName(o Options) string {
	switch {
	case o.GC == "":
		return "Go's default GC"
	case o.GCFor == "":
		return o.GC
	}
	return o.GC + " for " + o.GCFor + ", Go's default GC for the others"
}
