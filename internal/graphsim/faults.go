package graphsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault names, as written in GRAPHSIM_FAULTS and the Graphsim-Faults header.
const (
	// FaultRace holds an action's HTTP response until its completion
	// callback was delivered (per operation).
	FaultRace = "race"
	// FaultDuplicate sends a callback twice (per callback).
	FaultDuplicate = "duplicate"
	// FaultReorder sends an operation's statuses newest first (per operation).
	FaultReorder = "reorder"
	// FaultDeleted sends a finished operation's status with changeType
	// deleted instead of updated (per callback).
	FaultDeleted = "deleted"
	// FaultCasing capitalises changeType and status and sends the operation
	// id upper case without dashes (per callback).
	FaultCasing = "casing"
	// FaultArray sends resourceData as a one-element array (per callback).
	FaultArray = "array"
	// FaultNullID sends the operation id as null, and a resourceUrl without
	// it (per operation).
	FaultNullID = "nullid"
	// FaultMulti sends an operation's statuses as several resources of one
	// callback (per operation).
	FaultMulti = "multi"
	// FaultDropFinal never sends an operation's final status (per operation).
	FaultDropFinal = "dropfinal"
	// FaultDelay delays each callback by up to the given duration.
	FaultDelay = "delay"
)

// faultNames are the probability faults, in the order their draws are made.
var faultNames = []string{FaultRace, FaultDuplicate, FaultReorder, FaultDeleted, FaultCasing, FaultArray, FaultNullID, FaultMulti, FaultDropFinal}

// Faults are the fault probabilities (0 to 1) by name and the maximum extra
// delay of a callback. The zero value injects nothing.
type Faults struct {
	p     map[string]float64
	delay time.Duration
	// set records the names the text named, for Merge.
	set map[string]bool
}

// ParseFaults reads "race=0.3,duplicate=0.2,delay=20ms": comma-separated
// name=value pairs, a probability per fault name (a bare name means 1) and a
// duration for delay. "" and "none" mean no faults. Errors wrap ErrConfig.
func ParseFaults(s string) (Faults, error) {
	f := Faults{p: map[string]float64{}, set: map[string]bool{}}
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "none") {
		return f, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, hasVal := strings.Cut(part, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.TrimSpace(val)
		switch {
		case name == FaultDelay:
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return Faults{}, fmt.Errorf("%w: faults: delay=%q is not a duration", ErrConfig, val)
			}
			f.delay = d
		case slices.Contains(faultNames, name):
			p := 1.0
			if hasVal {
				var err error
				if p, err = strconv.ParseFloat(val, 64); err != nil || p < 0 || p > 1 {
					return Faults{}, fmt.Errorf("%w: faults: %s=%q is not a probability from 0 to 1", ErrConfig, name, val)
				}
			}
			f.p[name] = p
		default:
			return Faults{}, fmt.Errorf("%w: faults: unknown fault %q (known: %s, %s)", ErrConfig, name, strings.Join(faultNames, ", "), FaultDelay)
		}
		f.set[name] = true
	}
	return f, nil
}

// MustParseFaults is ParseFaults for literals; it panics on an error.
func MustParseFaults(s string) Faults {
	f, err := ParseFaults(s)
	if err != nil {
		panic(err)
	}
	return f
}

// Merge returns f with every fault that o names replaced by o's value.
func (f Faults) Merge(o Faults) Faults {
	out := Faults{p: map[string]float64{}, set: map[string]bool{}, delay: f.delay}
	for k, v := range f.p {
		out.p[k] = v
	}
	for k := range f.set {
		out.set[k] = true
	}
	for k := range o.set {
		out.set[k] = true
		if k == FaultDelay {
			out.delay = o.delay
		} else {
			out.p[k] = o.p[k]
		}
	}
	return out
}

// String returns f in ParseFaults syntax, names sorted as faultNames.
func (f Faults) String() string {
	var parts []string
	for _, n := range faultNames {
		if p, ok := f.p[n]; ok {
			parts = append(parts, n+"="+strconv.FormatFloat(p, 'g', -1, 64))
		}
	}
	if f.delay > 0 {
		parts = append(parts, FaultDelay+"="+f.delay.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// draw reports whether fault name strikes: one draw from rng whatever the
// probability, so that the sequence of draws does not depend on it.
func (f Faults) draw(rng *rand.Rand, name string) bool {
	x := rng.Float64()
	return x < f.p[name]
}

// drawDelay returns an extra delay from 0 to f's delay.
func (f Faults) drawDelay(rng *rand.Rand) time.Duration {
	x := rng.Int64N(int64(f.delay) + 1)
	return time.Duration(x)
}
