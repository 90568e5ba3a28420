package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/internal/traffic"
	"github.com/commsops/commsops/pkg/events"
)

// drainResult is what the relay and resolver phases measure of a process
// draining the preloaded COMMS_IN.
type drainResult struct {
	rate    float64       // input messages / time from the first output to the last
	cold    time.Duration // process start → first output
	cpu     time.Duration // the process's CPU per input message, start to stop
	natsCPU time.Duration // nats-server's CPU per input message meanwhile
	restart time.Duration // resolver only: a second process's start → first event, on existing consumers
	verdict verdict
}

// relayPhase preloads COMMS_IN as the resolver phase does and starts the
// relay ceiling as a process of its own on a durable made beforehand; its
// rate counts from its first republished message to its last.
func (l *layout) relayPhase(ctx context.Context, seq []traffic.Evidence) (drainResult, error) {
	var r drainResult
	b := l.b
	if err := b.reset(ctx); err != nil {
		return r, err
	}
	if _, err := b.ensure(ctx); err != nil {
		return r, err
	}
	n, err := b.preloadSeq(ctx, seq)
	if err != nil {
		return r, err
	}
	if err := b.plainStream(ctx, "BENCH_RELAY", "bench.relay.>"); err != nil {
		return r, err
	}
	if _, err := b.ajs.CreateConsumer(ctx, events.StreamIn, jetstream.ConsumerConfig{Durable: "bench-relay",
		AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: subjects.InFilter(-1, string(graphwire.KindOperation)),
		MaxAckPending: 16384}); err != nil {
		return r, err
	}
	a, stopSub, err := l.subscribe("bench.relay.>")
	if err != nil {
		return r, err
	}
	defer stopSub()
	nats0 := l.nats.cpu()
	p, err := l.ps.self("relay", "relay", []string{"NATS_URL=" + b.url})
	if err != nil {
		return r, err
	}
	defer p.stop()
	if err := a.wait(ctx, n, p, timeLimit(n)); err != nil {
		return r, err
	}
	r.natsCPU = (l.nats.cpu() - nats0) / time.Duration(n)
	p.stop()
	r.rate = float64(n) / a.span().Seconds()
	r.cold = a.firstAt().Sub(p.started)
	r.cpu = p.cpu() / time.Duration(n)
	return r, nil
}

// resolverEnv is the environment of a resolver process (RESOLVER_ADDR on a
// free port), plus extra.
func (l *layout) resolverEnv(extra ...string) ([]string, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	return append([]string{"NATS_URL=" + l.b.url, "RESOLVER_ADDR=" + addr, "COMMSOPS_LOG_LEVEL=warn",
		"COMMSOPS_PARTITIONS=" + strconv.Itoa(l.o.Partitions), "COMMSOPS_SHUTDOWN_TIMEOUT=10s",
		"RESOLVER_COMMIT_DELAY=" + l.o.CommitDelay.String()}, extra...), "http://" + addr, nil
}

// ingestEnv is the environment of an ingest process on a free port, without
// authentication and without the operations API.
func (l *layout) ingestEnv() ([]string, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	return []string{"NATS_URL=" + l.b.url, "INGEST_ADDR=" + addr, "INGEST_API_ADDR=off", "INGEST_AUTH=none",
		"COMMSOPS_LOG_LEVEL=warn", "COMMSOPS_PARTITIONS=" + strconv.Itoa(l.o.Partitions), "COMMSOPS_SHUTDOWN_TIMEOUT=10s"}, "http://" + addr, nil
}

// resolverPhase preloads COMMS_IN with the traffic, starts one resolver
// process on the waiting backlog and counts its resolved events at a
// subscriber: the rate from the first to the last, the time from the
// process's start to the first (cold start). Then it stops the resolver and
// checks COMMS_RESOLVED against the model.
func (l *layout) resolverPhase(ctx context.Context, ops []*traffic.Operation, seq []traffic.Evidence,
	want map[*traffic.Operation][]events.Status, nEvents int) (drainResult, error) {
	var r drainResult
	b := l.b
	if err := b.reset(ctx); err != nil {
		return r, err
	}
	if _, err := b.ensure(ctx); err != nil {
		return r, err
	}
	n, err := b.preloadSeq(ctx, seq)
	if err != nil {
		return r, err
	}
	a, stopSub, err := l.subscribe(events.SubjectResolvedPrefix + ">")
	if err != nil {
		return r, err
	}
	defer stopSub()
	profEnv, profURL, err := l.prof.arm("resolver")
	if err != nil {
		return r, err
	}
	env, _, err := l.resolverEnv(profEnv...)
	if err != nil {
		return r, err
	}
	nats0 := l.nats.cpu()
	p, err := l.ps.start("resolver", l.ps.bin("resolver"), nil, env)
	if err != nil {
		return r, err
	}
	defer p.stop()
	// The profile covers the first seconds, well inside the drain.
	profiled := l.prof.take(ctx, p, profURL, 3)
	if err := a.wait(ctx, nEvents, p, timeLimit(n)); err != nil {
		return r, err
	}
	r.natsCPU = (l.nats.cpu() - nats0) / time.Duration(n)
	if err := profiled(); err != nil {
		return r, err
	}
	p.stop()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return r, p.failed("did not stop cleanly")
	}
	r.rate = float64(n) / a.span().Seconds()
	r.cold = a.firstAt().Sub(p.started)
	r.cpu = p.cpu() / time.Duration(n)
	if r.verdict, err = verify(ctx, b, ops, want); err != nil {
		return r, err
	}
	r.restart, err = l.restartResolver(ctx)
	return r, err
}

// restartResolver stores a new backlog (other operations) into COMMS_IN,
// which the stopped resolver left with its consumers, unpinned, and returns
// the time from a new resolver process's start to its first resolved event:
// the cold start of a rolling restart, where resolverPhase's is a first
// deployment's.
func (l *layout) restartResolver(ctx context.Context) (time.Duration, error) {
	o := l.o
	o.Ops = min(o.Ops, 1000)
	_, seq := generateTraffic(o, o.Seed+1)
	in, err := traffic.Inbounds(seq)
	if err != nil {
		return 0, err
	}
	if _, err := l.b.preload(ctx, l.b.ajs, in); err != nil {
		return 0, err
	}
	a, stopSub, err := l.subscribe(events.SubjectResolvedPrefix + ">")
	if err != nil {
		return 0, err
	}
	defer stopSub()
	env, _, err := l.resolverEnv()
	if err != nil {
		return 0, err
	}
	p, err := l.ps.start("resolver-restarted", l.ps.bin("resolver"), nil, env)
	if err != nil {
		return 0, err
	}
	defer p.stop()
	if err := a.wait(ctx, 1, p, time.Minute); err != nil {
		return 0, err
	}
	return a.firstAt().Sub(p.started), nil
}

// handlerResult is one HTTP handler process under the load generator.
type handlerResult struct {
	name    string // ingest, bare or shaped
	rate    float64
	cpu     time.Duration // the handler process's CPU per 202, during the load
	natsCPU time.Duration // nats-server's CPU per 202, during the load
}

// ingestPhase runs the real ingest, the bare handler and the shaped handler
// (see benchIngest), each a process of its own started alone, under the
// same keep-alive load generator; the order rotates between runs.
func (l *layout) ingestPhase(ctx context.Context, run int) ([]handlerResult, error) {
	b := l.b
	if err := b.reset(ctx); err != nil {
		return nil, err
	}
	if _, err := b.ensure(ctx); err != nil {
		return nil, err
	}
	if err := b.plainStream(ctx, "BENCH_BARE", "bench.bare.>"); err != nil {
		return nil, err
	}
	names := []string{"ingest", "bare", "shaped"}
	out := make([]handlerResult, 0, len(names))
	for i := range names {
		name := names[(i+run)%len(names)]
		r, err := l.measureHandler(ctx, run, name)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (l *layout) measureHandler(ctx context.Context, run int, name string) (handlerResult, error) {
	r := handlerResult{name: name}
	var p *proc
	var base string
	var profURL string // the ingest's profile, when this phase is profiled
	if name == "ingest" {
		profEnv, url, err := l.prof.arm("ingest")
		if err != nil {
			return r, err
		}
		env, addr, err := l.ingestEnv()
		if err != nil {
			return r, err
		}
		if p, err = l.ps.start("ingest", l.ps.bin("ingest"), nil, append(env, profEnv...)); err != nil {
			return r, err
		}
		base, profURL = addr, url
	} else {
		addr, err := freeAddr()
		if err != nil {
			return r, err
		}
		if p, err = l.ps.self(name, name+"-handler", []string{"NATS_URL=" + l.b.url, "OPSBENCH_ADDR=" + addr}); err != nil {
			return r, err
		}
		base = "http://" + addr
	}
	defer p.stop()
	if err := waitReady(ctx, p, base+"/readyz", 30*time.Second); err != nil {
		return r, err
	}
	profiled := l.prof.take(ctx, p, profURL, max(1, int(l.o.Duration/time.Second)))
	cpu0, nats0 := p.cpu(), l.nats.cpu()
	tag := name[:1]
	res, err := load(ctx, base+"/v1/notifications", l.o.Clients, l.o.warmup(), l.o.Duration,
		func(client, i int, buf []byte) []byte {
			n := client<<32 | i
			return notificationBody(buf, opID(uint32(run)<<8|uint32(tag[0]), n), "load-"+tag+strconv.Itoa(run)+"-"+strconv.Itoa(n), "running")
		})
	if err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	if err := profiled(); err != nil {
		return r, err
	}
	reqs := time.Duration(max(1, res.reqs))
	r.rate = res.rate
	r.cpu, r.natsCPU = (p.cpu()-cpu0)/reqs, (l.nats.cpu()-nats0)/reqs
	return r, nil
}

// latencyPhase runs benchLatency's measurement against a resolver process
// and an ingest process.
func (l *layout) latencyPhase(ctx context.Context, run int) (latencyResult, error) {
	b := l.b
	if err := b.reset(ctx); err != nil {
		return latencyResult{}, err
	}
	if _, err := b.ensure(ctx); err != nil {
		return latencyResult{}, err
	}
	profEnv, profURL, err := l.prof.arm("latency")
	if err != nil {
		return latencyResult{}, err
	}
	renv, rbase, err := l.resolverEnv(profEnv...)
	if err != nil {
		return latencyResult{}, err
	}
	rp, err := l.ps.start("resolver", l.ps.bin("resolver"), nil, renv)
	if err != nil {
		return latencyResult{}, err
	}
	defer rp.stop()
	ienv, ibase, err := l.ingestEnv()
	if err != nil {
		return latencyResult{}, err
	}
	ip, err := l.ps.start("ingest", l.ps.bin("ingest"), nil, ienv)
	if err != nil {
		return latencyResult{}, err
	}
	defer ip.stop()
	if err := waitReady(ctx, rp, rbase+"/readyz", 30*time.Second); err != nil {
		return latencyResult{}, err
	}
	if err := waitReady(ctx, ip, ibase+"/readyz", 30*time.Second); err != nil {
		return latencyResult{}, err
	}
	profiled := l.prof.take(ctx, rp, profURL, max(1, int(l.o.Duration/time.Second)))
	start, cpu0 := sampleCPU(), [...]time.Duration{l.nats.cpu(), rp.cpu(), ip.cpu()}
	r, err := driveLatency(ctx, b, run, ibase)
	end := sampleCPU()
	if el := end.at.Sub(start.at).Seconds(); el > 0 {
		r.cores = latencyCores{nats: (l.nats.cpu() - cpu0[0]).Seconds() / el, resolver: (rp.cpu() - cpu0[1]).Seconds() / el,
			ingest: (ip.cpu() - cpu0[2]).Seconds() / el, opsbench: ownCores(start, end)}
	}
	if perr := profiled(); err == nil {
		err = perr
	}
	return r, err
}
