package graphsim

import (
	"context"
	"slices"
	"sync"
	"time"
)

// sendDraw is what the per-callback faults drew for one callback.
type sendDraw struct {
	itemFaults
	duplicate bool
	delay     time.Duration
}

// drawSend draws one callback's faults from the call's generator: always the
// same draws in the same order, so a seed repeats them. The caller holds the
// call's lock.
func (c *call) drawSend(f Faults) sendDraw {
	var d sendDraw
	d.duplicate = f.draw(c.rng, FaultDuplicate)
	d.deleted = f.draw(c.rng, FaultDeleted)
	d.casing = f.draw(c.rng, FaultCasing)
	d.array = f.draw(c.rng, FaultArray)
	d.delay = f.drawDelay(c.rng)
	return d
}

// names returns the per-callback faults that d struck; final tells whether
// the callback carries a final status (deleted only shapes those).
func (d sendDraw) names(final bool) []string {
	var out []string
	if d.deleted && final {
		out = append(out, FaultDeleted)
	}
	if d.casing {
		out = append(out, FaultCasing)
	}
	if d.array {
		out = append(out, FaultArray)
	}
	if d.delay > 0 {
		out = append(out, FaultDelay)
	}
	return out
}

// opPlan is what the per-operation faults drew for one operation, and the
// draws of each of its callbacks.
type opPlan struct {
	race, reorder, nullID, multi, dropFinal bool
	sends                                   []sendDraw
}

// opStatuses is how many statuses an operation notifies: running, then its
// final status.
const opStatuses = 2

// drawOperation draws an operation's faults. The caller holds the call's lock.
func (c *call) drawOperation(f Faults) opPlan {
	p := opPlan{
		race:      f.draw(c.rng, FaultRace),
		reorder:   f.draw(c.rng, FaultReorder),
		nullID:    f.draw(c.rng, FaultNullID),
		multi:     f.draw(c.rng, FaultMulti),
		dropFinal: f.draw(c.rng, FaultDropFinal),
	}
	for range opStatuses {
		p.sends = append(p.sends, c.drawSend(f))
	}
	return p
}

// names returns the operation-wide faults that p struck.
func (p opPlan) names() []string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{{p.race, FaultRace}, {p.reorder, FaultReorder}, {p.nullID, FaultNullID}, {p.multi, FaultMulti}, {p.dropFinal, FaultDropFinal}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return out
}

// runOperation walks op through its statuses: one Step after the action it
// is notified running, one Step later it finishes (failed when cancelled
// meanwhile) and its final status is notified, each status as its own
// callback unless the plan's faults reorder, batch (multi) or drop them.
// op.settled is closed once the final status's callback was delivered or
// given up, or when the walk ends without one.
func (s *Simulator) runOperation(ctx context.Context, c *call, op *operation, plan opPlan) {
	var once sync.Once
	settle := func() { once.Do(func() { close(op.settled) }) }
	defer settle()
	const running, final = "running", "final"
	var pending []string
	next := 0 // index into plan.sends
	for i, step := range []string{running, final} {
		if !sleep(ctx, s.cfg.Step) {
			return
		}
		if step == final {
			c.finish(op)
		}
		pending = append(pending, step)
		if (plan.reorder || plan.multi) && i < opStatuses-1 {
			continue // held back, to be sent after (reorder) or with (multi) the final status
		}
		order := slices.Clone(pending)
		pending = nil
		if plan.reorder {
			slices.Reverse(order)
		}
		if plan.dropFinal {
			order = slices.DeleteFunc(order, func(st string) bool { return st == final })
		}
		groups := [][]string{order}
		if !plan.multi {
			groups = nil
			for _, st := range order {
				groups = append(groups, []string{st})
			}
		}
		for _, g := range groups {
			if len(g) == 0 {
				continue
			}
			d := plan.sends[min(next, len(plan.sends)-1)]
			next++
			if !sleep(ctx, d.delay) {
				return
			}
			sd := c.operationSend(op, g, plan, d)
			s.deliver(ctx, c, sd)
			if slices.Contains(g, final) {
				settle()
			}
			if d.duplicate {
				dup := sd
				dup.faults = append(slices.Clone(sd.faults), FaultDuplicate)
				s.deliver(ctx, c, dup)
			}
		}
	}
}

// operationSend builds the callback of op's steps ("running", "final").
func (c *call) operationSend(op *operation, steps []string, plan opPlan, d sendDraw) send {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sd send
	hasFinal := false
	for _, st := range steps {
		isFinal := st == "final"
		status := st
		if isFinal {
			status, hasFinal = op.final, true
			sd.finals = append(sd.finals, op)
		}
		sd.items = append(sd.items, operationItem(c, op, status, isFinal, plan.nullID, d.itemFaults))
		sd.statuses = append(sd.statuses, status)
	}
	sd.opIDs = []string{op.id}
	sd.faults = append(plan.names(), d.names(hasFinal)...)
	return sd
}

// finish ends op: failed when cancelMediaProcessing cancelled it, else
// completed.
func (c *call) finish(op *operation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	op.final, op.resultInfo = "completed", &resultCompleted
	if op.cancelled {
		op.final, op.resultInfo = "failed", &resultCancelled
	}
	op.statuses = append(op.statuses, op.final)
}

// callStep is one call state a call flow notifies.
type callStep struct {
	state  string
	result *ResultInfo
	draw   sendDraw
}

// drawCallSteps draws the per-callback faults of call state notifications.
// The caller holds the call's lock.
func (c *call) drawCallSteps(f Faults, states []string, final *ResultInfo) []callStep {
	steps := make([]callStep, len(states))
	for i, st := range states {
		steps[i] = callStep{state: st, draw: c.drawSend(f)}
		if i == len(states)-1 {
			steps[i].result = final
		}
	}
	return steps
}

// runCallStates notifies the call's states, one Step apart.
func (s *Simulator) runCallStates(ctx context.Context, c *call, steps []callStep) {
	for _, st := range steps {
		if !sleep(ctx, s.cfg.Step+st.draw.delay) {
			return
		}
		c.mu.Lock()
		c.state = st.state
		d := st.draw
		d.deleted = false // call states are shaped as Graph does: terminated is deleted
		sd := send{items: []map[string]any{callStateItem(c, st.state, st.result, d.itemFaults)},
			statuses: []string{st.state}, faults: d.names(false)}
		c.mu.Unlock()
		s.deliver(ctx, c, sd)
		if d.duplicate {
			sd.faults = append(slices.Clone(sd.faults), FaultDuplicate)
			s.deliver(ctx, c, sd)
		}
	}
}
