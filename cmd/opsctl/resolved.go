package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/pkg/events"
)

type eventFlags struct {
	status, cc string
	asJSON     bool
}

func (f *eventFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.status, "status", "", "only these statuses, comma separated (notStarted,running,completed,failed,stalled)")
	fs.StringVar(&f.cc, "cc", "", "only this clientContext")
	fs.BoolVar(&f.asJSON, "json", false, "print each event's data as a JSON line")
}

func (f *eventFlags) options() ([]events.SubscriberOption, error) {
	var opts []events.SubscriberOption
	if f.status != "" {
		var sts []events.Status
		for _, s := range strings.Split(f.status, ",") {
			st, err := events.ParseStatus(s)
			if err != nil {
				return nil, err
			}
			sts = append(sts, st)
		}
		opts = append(opts, events.FilterStatus(sts...))
	}
	if f.cc != "" {
		opts = append(opts, events.FilterClientContext(f.cc))
	}
	return opts, nil
}

func printEvent(w io.Writer, r *events.Resolved, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(r.Data)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	code := ""
	if r.Data.ResultInfo != nil {
		code = fmt.Sprintf(" code=%d/%d", r.Data.ResultInfo.Code, r.Data.ResultInfo.Subcode)
	}
	fmt.Fprintf(w, "#%-6d %s %-10s cc=%s op=%s%s race=%v id=%s\n", r.Seq, r.Data.ResolvedAt.Format(time.RFC3339),
		r.Data.Status, r.Data.ClientContext, r.Data.OperationID, code, r.Data.RaceDetected, r.Event.ID())
}

// cmdTail prints new resolved events until interrupted.
func cmdTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f eventFlags
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	conn, err := connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	sub, err := events.NewSubscriber(conn.JS, append(opts, events.DeliverNew())...)
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "tailing resolved events; Ctrl-C stops")
	return sub.Run(ctx, func(_ context.Context, r *events.Resolved) error {
		printEvent(stdout, r, f.asJSON)
		return nil
	})
}

// cmdReplay prints resolved events from a time or sequence up to the stream's
// end at the start of the replay, with progress on stderr.
func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f eventFlags
	var since string
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&since, "since", "", "RFC 3339 time or COMMS_RESOLVED stream sequence to replay from (required)")
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	switch seq, err := strconv.ParseUint(since, 10, 64); {
	case since == "":
		return errors.New("replay needs -since <RFC 3339 time | stream sequence>")
	case err == nil:
		opts = append(opts, events.StartAtSequence(seq))
	default:
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return fmt.Errorf("-since %q is neither a stream sequence nor an RFC 3339 time (2026-11-22T10:00:00Z)", since)
		}
		opts = append(opts, events.StartAtTime(t))
	}
	conn, err := connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	s, err := conn.JS.Stream(ctx, events.StreamResolved)
	if err != nil {
		return fmt.Errorf("%s: %w", events.StreamResolved, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	last := info.State.LastSeq
	sub, err := events.NewSubscriber(conn.JS, opts...)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := 0
	idle := time.AfterFunc(2*time.Second, cancel) // nothing (more) matches
	err = sub.Run(rctx, func(_ context.Context, r *events.Resolved) error {
		idle.Reset(2 * time.Second)
		printEvent(stdout, r, f.asJSON)
		if n++; n%1000 == 0 {
			fmt.Fprintf(stderr, "replayed %d events (at #%d of %d)\n", n, r.Seq, last)
		}
		if r.Seq >= last {
			cancel()
		}
		return nil
	})
	fmt.Fprintf(stderr, "replayed %d events up to #%d\n", n, last)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	return err
}
