package main

import (
	"context"
	"time"
)

// cpuSample is the machine's busy CPU time and this process's own CPU time
// at one instant, to tell how much of the machine other processes took
// during a phase (the benchmark shares its cores with whatever else runs).
type cpuSample struct {
	at      time.Time
	busy    time.Duration // all CPUs, every process (from /proc/stat)
	own     time.Duration // this process, user + system
	haveAll bool
}

// foreignCores returns how many cores, on average, processes other than this
// one kept busy between s and e; -1 when the machine's figures are not
// available.
func foreignCores(s, e cpuSample) float64 {
	el := e.at.Sub(s.at)
	if !s.haveAll || !e.haveAll || el <= 0 {
		return -1
	}
	other := (e.busy - s.busy) - (e.own - s.own)
	return max(0, other.Seconds()/el.Seconds())
}

// ownCores returns how many cores this process used on average between s and e.
func ownCores(s, e cpuSample) float64 {
	el := e.at.Sub(s.at)
	if el <= 0 {
		return 0
	}
	return (e.own - s.own).Seconds() / el.Seconds()
}

// cpuTimer measures a timed section's wall time and this process's CPU time.
type cpuTimer struct{ s cpuSample }

func startTimer() cpuTimer { return cpuTimer{sampleCPU()} }

// stop returns the wall time and the CPU time (all of this process: the
// embedded server, the code under test and the load generator) since start.
func (t cpuTimer) stop() (wall, cpu time.Duration) {
	e := sampleCPU()
	return e.at.Sub(t.s.at), e.own - t.s.own
}

// waitQuiet waits until other processes keep less than noisyCores busy for a
// second, or limit passes. It returns how long it waited and whether the
// machine was quiet.
func waitQuiet(ctx context.Context, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for {
		s := sampleCPU()
		select {
		case <-ctx.Done():
			return time.Since(start), false
		case <-time.After(time.Second):
		}
		other := foreignCores(s, sampleCPU())
		if other < 0 || other < noisyCores {
			return time.Since(start), true
		}
		if time.Since(start) >= limit {
			return time.Since(start), false
		}
	}
}
