package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// phaseRunner runs the phases of each run in order, one line per phase: its
// label, its summary and the load on the machine meanwhile, whose noise
// figures it adds to the run's figures. Both modes run their phases with it.
type phaseRunner struct {
	ctx    context.Context
	o      Options
	out    io.Writer
	labels map[string]string // by phase
	// children returns the CPU time of the processes this one started (nil:
	// none); it counts as this process's own.
	children func() time.Duration
	// ownFigures records the cores this process kept busy per phase
	// (cpu_own_cores_<phase>).
	ownFigures bool
	// sayWaited says how long a phase waited for quiet, when over 2s.
	sayWaited bool
	// goOn lets the runs go on after a phase that the machine's load made
	// fail (timeouts): it is printed with its error and listed in failures.
	// A wrong output or a stop still ends the benchmark.
	goOn bool

	noisy    []string // the phases other processes made noisy, every run
	failures []string // with goOn: the phases that failed, every run

	// The current run.
	run int
	f   figures
	err error // the failure that ends the benchmark
}

// begin starts run i and returns its figures, which its phases fill.
func (p *phaseRunner) begin(i int) figures {
	p.run, p.f, p.err = i, figures{}, nil
	fmt.Fprintf(p.out, "run %d/%d\n", i+1, p.o.Runs)
	return p.f
}

// step runs phase name, unless -phases leaves it out or an earlier phase of
// the run ended the benchmark (p.err). fn returns the phase's summary.
func (p *phaseRunner) step(name string, fn func() (string, error)) {
	if p.err != nil || !p.o.runs(name) {
		return
	}
	fmt.Fprintf(p.out, "  %-34s", p.labels[name])
	if p.o.WaitQuiet > 0 {
		if waited, quiet := waitQuiet(p.ctx, p.o.WaitQuiet); !quiet {
			fmt.Fprintf(p.out, " [still busy after %v]", waited.Round(time.Second))
		} else if p.sayWaited && waited > 2*time.Second {
			fmt.Fprintf(p.out, " [waited %v for quiet]", waited.Round(time.Second))
		}
	}
	s0 := p.sample()
	summary, err := fn()
	s1 := p.sample()
	took := s1.at.Sub(s0.at).Round(100 * time.Millisecond)
	if err != nil {
		if !p.goOn {
			fmt.Fprintf(p.out, " FAILED after %v\n", took)
			p.err = err
			return
		}
		fmt.Fprintf(p.out, " FAILED after %v: %v\n", took, err)
		if errors.Is(err, errViolations) || p.ctx.Err() != nil {
			p.err = err
			return
		}
		p.failures = append(p.failures, fmt.Sprintf("run %d %s: %v", p.run+1, name, err))
		return
	}
	// How busy this process (and its children) kept the machine, and how
	// much other processes took from it meanwhile (noise).
	own := ownCores(s0, s1)
	if p.ownFigures {
		p.f["cpu_own_cores_"+name] = own
	}
	load := fmt.Sprintf("%v, %.1f cores", took, own)
	if other := foreignCores(s0, s1); other >= 0 {
		p.f["cpu_other_cores_"+name] = other
		load += fmt.Sprintf(", others %.1f", other)
		if other > noisyCores {
			p.noisy = append(p.noisy, fmt.Sprintf("run %d %s: %.1f cores", p.run+1, name, other))
			load += " NOISY"
		}
	}
	fmt.Fprintf(p.out, " %-58s (%s)\n", summary, load)
}

// sample returns sampleCPU's sample, with the children's CPU time counted as
// this process's own.
func (p *phaseRunner) sample() cpuSample {
	s := sampleCPU()
	if p.children != nil {
		s.own += p.children()
	}
	return s
}
