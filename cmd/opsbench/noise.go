//go:build unix

package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/stat; 100 on every Linux ABI Go supports.
const clockTick = 100

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.own = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return s
	}
	// user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
	var ticks int64
	for i, f := range fields[1:] {
		if i == 3 || i == 4 {
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return s
		}
		ticks += v
	}
	s.busy = time.Duration(ticks) * time.Second / clockTick
	s.haveAll = true
	return s
}
