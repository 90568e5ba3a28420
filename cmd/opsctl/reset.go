package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/streams"
	"github.com/commsops/commsops/pkg/events"
)

// errNotConfirmed: the operator did not type yes at reset-resolver's prompt.
var errNotConfirmed = errors.New("not confirmed: nothing changed (type yes at the prompt, or pass -yes)")

// resolverConsumerPrefix names the consumers streams.ResetResolver deletes.
const resolverConsumerPrefix = "resolver-"

const resetDoc = `Prepare a rebuild of the resolver from COMMS_IN (streams.ResetResolver): delete
the consumers resolver-<n> of COMMS_IN and the buckets COMMS_OPS (the resolver's
state) and COMMS_WORKERS. It shows what it would delete and asks first. It
refuses while a resolver worker is alive (a heartbeat in COMMS_WORKERS in the
last 10s): stop every resolver first. COMMS_IN and COMMS_RESOLVED are kept.
Afterwards start the resolvers: they recreate what is missing and consume
COMMS_IN from its first message. See the README's replay runbook.`

// cmdResetResolver shows what streams.ResetResolver would delete, asks for
// confirmation on stdin (unless -yes), and runs it. It changes nothing with
// -dry-run, without a "yes", or while a resolver worker is alive.
func cmdResetResolver(ctx context.Context, cio cmdIO, args []string) error {
	fs := newFlags(cio, "reset-resolver", "[-dry-run] [-yes]", resetDoc)
	dry := fs.Bool("dry-run", false, "print what would be deleted, change nothing")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	pos, err := parse(fs, cio, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("reset-resolver takes no arguments (got %q)", pos)
	}
	conn, err := connect(ctx, cio.errOut)
	if err != nil {
		return err
	}
	defer closeConn(conn)

	p, err := planReset(ctx, conn.JS)
	if err != nil {
		return err
	}
	p.print(cio.out)
	if err := p.refuse(); err != nil {
		return err
	}
	if *dry {
		fmt.Fprintln(cio.out, "dry run: nothing changed")
		return nil
	}
	if !*yes {
		if err := confirm(ctx, cio, "Delete the above? Type yes to go on: "); err != nil {
			return err
		}
		// The answer may have taken a while: look for a worker again.
		if p, err = planReset(ctx, conn.JS); err != nil {
			return err
		}
		if err := p.refuse(); err != nil {
			return err
		}
	}
	n, err := streams.ResetResolver(ctx, conn.JS)
	if err != nil {
		return fmt.Errorf("reset-resolver: %w (run it again: what is already deleted stays so)", err)
	}
	fmt.Fprintf(cio.out, "deleted %d consumers of %s and the buckets %s and %s\n", n, events.StreamIn, events.BucketState, streams.BucketWorkers)
	fmt.Fprintf(cio.out, "next: start the resolvers; they recreate what is missing and consume %s from its first message\n", events.StreamIn)
	return nil
}

// resetPlan is what a reset would delete, read before deleting anything.
type resetPlan struct {
	in        *jetstream.StreamInfo
	consumers []*jetstream.ConsumerInfo // resolver-<n>, by name
	state     *uint64                   // keys in COMMS_OPS; nil: no such bucket
	workers   *[]string                 // live workers in COMMS_WORKERS; nil: no such bucket
	resolved  *jetstream.StreamInfo     // nil: no COMMS_RESOLVED
}

// planReset reads what streams.ResetResolver would delete. COMMS_IN must
// exist (a reset without it has nothing to rebuild from).
func planReset(ctx context.Context, js jetstream.JetStream) (*resetPlan, error) {
	s, err := stream(ctx, js, events.StreamIn)
	if err != nil {
		return nil, err
	}
	p := &resetPlan{in: s.CachedInfo()}
	infos := s.ListConsumers(ctx)
	for ci := range infos.Info() {
		if strings.HasPrefix(ci.Name, resolverConsumerPrefix) {
			p.consumers = append(p.consumers, ci)
		}
	}
	if err := infos.Err(); err != nil {
		return nil, fmt.Errorf("consumers of %s: %w", events.StreamIn, err)
	}
	sort.Slice(p.consumers, func(i, j int) bool { return p.consumers[i].Name < p.consumers[j].Name })

	kv, err := js.KeyValue(ctx, events.BucketState)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
	case err != nil:
		return nil, fmt.Errorf("bucket %s: %w", events.BucketState, err)
	default:
		st, err := kv.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", events.BucketState, err)
		}
		n := st.Values()
		p.state = &n
	}

	wk, err := js.KeyValue(ctx, streams.BucketWorkers)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
	case err != nil:
		return nil, fmt.Errorf("bucket %s: %w", streams.BucketWorkers, err)
	default:
		keys, err := wk.Keys(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, fmt.Errorf("bucket %s: %w", streams.BucketWorkers, err)
		}
		sort.Strings(keys)
		p.workers = &keys
	}

	if r, err := js.Stream(ctx, events.StreamResolved); err == nil {
		p.resolved = r.CachedInfo()
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s: %w", events.StreamResolved, err)
	}
	return p, nil
}

// print writes the plan, one line per thing deleted.
func (p *resetPlan) print(w io.Writer) {
	st := p.in.State
	fmt.Fprintf(w, "reset-resolver: rebuild the resolver from %s (%d messages, sequences %d-%d)\n", events.StreamIn, st.Msgs, st.FirstSeq, st.LastSeq)
	if len(p.consumers) == 0 {
		fmt.Fprintf(w, "  no consumer %s<n> on %s\n", resolverConsumerPrefix, events.StreamIn)
	}
	for _, c := range p.consumers {
		fmt.Fprintf(w, "  delete consumer %s > %s (acknowledged up to stream sequence %d, %d pending, %d unacknowledged)\n",
			events.StreamIn, c.Name, c.AckFloor.Stream, c.NumPending, c.NumAckPending)
	}
	if p.state == nil {
		fmt.Fprintf(w, "  no bucket %s\n", events.BucketState)
	} else {
		fmt.Fprintf(w, "  delete bucket %s (%d keys: the resolver's state)\n", events.BucketState, *p.state)
	}
	switch {
	case p.workers == nil:
		fmt.Fprintf(w, "  no bucket %s\n", streams.BucketWorkers)
	case len(*p.workers) == 0:
		fmt.Fprintf(w, "  delete bucket %s (no live worker)\n", streams.BucketWorkers)
	default:
		fmt.Fprintf(w, "  delete bucket %s (LIVE WORKERS: %s)\n", streams.BucketWorkers, strings.Join(*p.workers, ", "))
	}
	if p.resolved != nil {
		fmt.Fprintf(w, "kept: %s (%d messages); its duplicate window (%s) holds back ids it stored that recently:\n"+
			"  for a clean copy delete it before the resolvers start (nats stream rm %s)\n",
			events.StreamResolved, p.resolved.State.Msgs, p.resolved.Config.Duplicates, events.StreamResolved)
	}
}

// refuse returns an error while a resolver worker is alive: a reset under a
// running resolver would be undone (and mixed) by it.
func (p *resetPlan) refuse() error {
	if p.workers == nil || len(*p.workers) == 0 {
		return nil
	}
	return fmt.Errorf("%d resolver worker(s) alive (%s): stop every resolver first (the runbook's step 1), then wait %s for their heartbeats to expire; nothing changed",
		len(*p.workers), strings.Join(*p.workers, ", "), streams.WorkerTTL)
}

// confirm asks on cio.errOut and reads one line from cio.in: nil for "yes",
// errNotConfirmed for anything else or no answer, ctx's error when it ends
// first.
func confirm(ctx context.Context, cio cmdIO, question string) error {
	fmt.Fprint(cio.errOut, question)
	if cio.in == nil {
		return errNotConfirmed
	}
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(cio.in).ReadString('\n')
		answer <- line
	}()
	select {
	case line := <-answer:
		if !strings.HasSuffix(line, "\n") {
			fmt.Fprintln(cio.errOut) // end of input: end the prompt's line
		}
		if strings.TrimSpace(line) != "yes" {
			return errNotConfirmed
		}
		return nil
	case <-ctx.Done():
		fmt.Fprintln(cio.errOut)
		return fmt.Errorf("%w: nothing changed", ctx.Err())
	}
}
