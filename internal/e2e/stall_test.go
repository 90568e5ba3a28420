package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/pkg/events"
)

func stallConfig() resolver.Config {
	c := resolverDefaults()
	c.StallAfter = time.Second
	return c
}

// TestStallDetection: an operation left running gets exactly one stalled
// event, no earlier than its last news plus RESOLVER_STALL_AFTER; a later
// completion still resolves it; an operation that completes in time never
// stalls; and a stall scheduled by a worker that then dies still fires once.
func TestStallDetection(t *testing.T) {
	p := startPipeline(t)
	w := p.startWorker("w1", stallConfig())
	const (
		opStuck  = "0fe0623f-d628-42ed-b4bd-8ac290072cc5"
		opQuick  = "1fe0623f-d628-42ed-b4bd-8ac290072cc5"
		opOrphan = "2fe0623f-d628-42ed-b4bd-8ac290072cc5"
	)
	p.mustPost("/v1/responses", response("playPrompt", op{typ: "playPromptOperation", id: opStuck, cc: "stuck", status: "running"}, 200))
	p.mustPost("/v1/responses", response("playPrompt", op{typ: "playPromptOperation", id: opQuick, cc: "quick", status: "running"}, 200))
	p.mustPost("/v1/notifications", notification(op{typ: "playPromptOperation", id: opQuick, cc: "quick", status: "completed", code: 200}))
	p.mustPost("/v1/responses", response("record", op{typ: "recordOperation", id: opOrphan, cc: "orphan", status: "running"}, 200))
	p.out.waitFor(t, 10*time.Second, "running events", func(evs []resolvedEvent) bool {
		return len(statusesOf(evs, "orphan", "")) >= 1 && len(statusesOf(evs, "stuck", "")) >= 1
	})
	// The worker that scheduled the checks dies; another one takes over.
	w.kill()
	p.startWorker("w2", stallConfig())

	evs := p.out.waitFor(t, 15*time.Second, "stalled events", func(evs []resolvedEvent) bool {
		return slices.Contains(statusesOf(evs, "stuck", ""), events.StatusStalled) &&
			slices.Contains(statusesOf(evs, "orphan", ""), events.StatusStalled)
	})
	for _, e := range evs {
		if e.Data.Status == events.StatusStalled {
			if e.Type != "io.commsops.operation.stalled" || e.Subject != events.ResolvedSubject(events.Key(e.Data.ClientContext), events.StatusStalled) {
				t.Errorf("stalled event type %q subject %q", e.Type, e.Subject)
			}
			var lastNews time.Time
			for _, s := range e.Data.Sources {
				if s.Kind != events.SourceStallTimer && s.ReceivedAt.After(lastNews) {
					lastNews = s.ReceivedAt
				}
			}
			if e.Data.ResolvedAt.Before(lastNews.Add(time.Second)) {
				t.Errorf("stalled at %v, before last news %v + 1s", e.Data.ResolvedAt, lastNews)
			}
		}
	}
	// A terminal status after the stall still resolves the operation.
	p.mustPost("/v1/notifications", notification(op{typ: "playPromptOperation", id: opStuck, cc: "stuck", status: "completed", code: 200}))
	p.out.waitFor(t, 10*time.Second, "completion after stall", func(evs []resolvedEvent) bool {
		return slices.Contains(statusesOf(evs, "stuck", ""), events.StatusCompleted)
	})
	time.Sleep(2500 * time.Millisecond) // longer than StallAfter: any second stall would show
	evs = p.out.settle(300 * time.Millisecond)
	for cc, want := range map[string][]events.Status{
		"stuck":  {events.StatusRunning, events.StatusStalled, events.StatusCompleted},
		"quick":  {events.StatusRunning, events.StatusCompleted},
		"orphan": {events.StatusRunning, events.StatusStalled},
	} {
		if got := statusesOf(evs, cc, ""); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v\n%s", cc, got, want, describe(evs))
		}
	}
	assertInvariants(t, evs)
}
