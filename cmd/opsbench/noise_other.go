//go:build !unix

package main

import "time"

// sampleCPU has only the time where getrusage and /proc/stat do not exist.
func sampleCPU() cpuSample { return cpuSample{at: time.Now()} }
