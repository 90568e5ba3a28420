package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/pkg/events"
)

// eventFlags are the selection and output flags of tail and replay.
type eventFlags struct {
	statuses string
	ccs      []string
	since    string
	asJSON   bool
}

func (f *eventFlags) register(fs *flag.FlagSet, sinceDoc string) {
	fs.StringVar(&f.statuses, "status", "", "only these statuses, comma separated: notStarted, running, completed, failed, stalled")
	fs.Func("cc", "only this clientContext, exactly as the bot sent it (repeat for several)", func(s string) error {
		f.ccs = append(f.ccs, s)
		return nil
	})
	fs.StringVar(&f.since, "since", "", sinceDoc)
	fs.BoolVar(&f.asJSON, "json", false, "print one JSON object per line: seq, subject, id, type, source, time, data")
}

// options turns the flags into Subscriber options (filters and start).
func (f *eventFlags) options(now time.Time) ([]events.SubscriberOption, string, error) {
	var opts []events.SubscriberOption
	var desc []string
	if f.statuses != "" {
		var sts []events.Status
		for _, s := range splitList(f.statuses) {
			st, err := events.ParseStatus(s)
			if err != nil {
				return nil, "", usagef("-status %q: the statuses are notStarted, running, completed, failed and stalled", s)
			}
			sts = append(sts, st)
		}
		if len(sts) == 0 {
			return nil, "", usagef("-status is empty")
		}
		opts = append(opts, events.FilterStatus(sts...))
		desc = append(desc, "status "+f.statuses)
	}
	for _, cc := range f.ccs {
		if err := graphid.ValidateClientContext(cc); err != nil || cc == "" {
			return nil, "", usagef("-cc %q: not a clientContext Graph would carry (1 to %d characters, no control characters)", cc, events.MaxClientContextLen)
		}
		opts = append(opts, events.FilterClientContext(cc))
		desc = append(desc, "clientContext "+strconv.Quote(cc))
	}
	if f.since != "" {
		opt, what, err := parseSince(f.since, now)
		if err != nil {
			return nil, "", err
		}
		opts = append(opts, opt)
		desc = append(desc, "since "+what)
	}
	if len(desc) == 0 {
		return opts, "all events", nil
	}
	return opts, strings.Join(desc, ", "), nil
}

// parseSince reads a stream sequence, an RFC 3339 time or a duration ago.
func parseSince(s string, now time.Time) (events.SubscriberOption, string, error) {
	if seq, err := strconv.ParseUint(s, 10, 64); err == nil {
		if seq == 0 {
			return nil, "", usagef("-since 0: stream sequences start at 1")
		}
		return events.StartAtSequence(seq), "#" + s, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return events.StartAtTime(t), t.UTC().Format(time.RFC3339), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		t := now.Add(-d)
		return events.StartAtTime(t), fmt.Sprintf("%s ago (%s)", s, t.UTC().Format(time.RFC3339)), nil
	}
	return nil, "", usagef("-since %q: give a stream sequence (1200), an RFC 3339 time (2026-11-22T10:00:00Z) or a duration ago (15m, 2h)", s)
}

// resolvedView is what opsctl prints of one resolved event.
type resolvedView struct {
	seq     uint64
	subject string
	ev      event.Event
	data    events.ResolvedOperation
}

// decodeView decodes a COMMS_RESOLVED message read outside the Subscriber.
func decodeView(m jetstream.Msg) (resolvedView, error) {
	v := resolvedView{subject: m.Subject()}
	if meta, err := m.Metadata(); err == nil {
		v.seq = meta.Sequence.Stream
	}
	e, err := events.DecodeMsg(m.Headers(), m.Data())
	if err != nil {
		return v, err
	}
	v.ev = e
	if err := json.Unmarshal(e.Data(), &v.data); err != nil {
		return v, fmt.Errorf("data: %w", err)
	}
	return v, nil
}

// printView writes one event: a line for people, or a JSON object.
func printView(w io.Writer, v resolvedView, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(struct {
			Seq     uint64          `json:"seq"`
			Subject string          `json:"subject"`
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Source  string          `json:"source"`
			Time    time.Time       `json:"time"`
			Data    json.RawMessage `json:"data"`
		}{v.seq, v.subject, v.ev.ID(), v.ev.Type(), v.ev.Source(), v.ev.Time().UTC(), json.RawMessage(v.ev.Data())})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	d := v.data
	var b strings.Builder
	fmt.Fprintf(&b, "#%-6d %s  %-10s %s %s op=%s", v.seq, v.ev.Time().UTC().Format("2006-01-02T15:04:05.000Z"), d.Status,
		quoteIfNeeded(d.ClientContext), shortType(d.ODataType), orDash(d.OperationID))
	if d.ResultInfo != nil {
		fmt.Fprintf(&b, " result=%d/%d", d.ResultInfo.Code, d.ResultInfo.Subcode)
	}
	if d.CompletionReason != "" {
		fmt.Fprintf(&b, " reason=%s", d.CompletionReason)
	}
	if d.RaceDetected {
		b.WriteString(" race")
	}
	fmt.Fprintf(&b, " id=%s\n", v.ev.ID())
	_, err := io.WriteString(w, b.String())
	return err
}

// shortType turns "#microsoft.graph.playPromptOperation" into "playPrompt".
func shortType(odataType string) string {
	s := strings.TrimSuffix(strings.TrimPrefix(odataType, "#microsoft.graph."), "Operation")
	return orDash(s)
}

// quoteIfNeeded quotes a string holding white space, quotes, non-printable
// characters, or nothing.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"") || strconv.Quote(s) != `"`+s+`"` {
		return strconv.Quote(s)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

const sinceDoc = "start from a COMMS_RESOLVED stream sequence, an RFC 3339 time or a duration ago (15m)"

// cmdTail prints resolved events as they are stored until interrupted.
func cmdTail(ctx context.Context, cio cmdIO, args []string) error {
	var f eventFlags
	fs := newFlags(cio, "tail", "[-status s1,s2] [-cc clientContext] [-since time|seq|duration] [-json]",
		"Print resolved events as the resolver stores them in COMMS_RESOLVED, one line each\n(or one JSON object with -json), until Ctrl-C. Without -since, from now on.")
	f.register(fs, sinceDoc+" (default: now)")
	pos, err := parse(fs, cio, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("tail takes no arguments (got %q); filter with -cc and -status", pos)
	}
	opts, desc, err := f.options(time.Now())
	if err != nil {
		return err
	}
	if f.since == "" {
		opts = append(opts, events.DeliverNew())
	}
	conn, err := connect(ctx, cio.errOut)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	if _, err := stream(ctx, conn.JS, events.StreamResolved); err != nil {
		return err
	}
	opts = append(opts, events.OnError(func(err error) { fmt.Fprintln(cio.errOut, "opsctl tail:", err) }), events.DrainTimeout(0))
	sub, err := events.NewSubscriber(conn.JS, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(cio.errOut, "tailing %s (%s); Ctrl-C stops\n", events.StreamResolved, desc)
	return sub.Run(ctx, func(_ context.Context, r *events.Resolved) error {
		return printView(cio.out, resolvedView{seq: r.Seq, subject: r.Subject, ev: r.Event, data: r.Data}, f.asJSON)
	})
}

// cmdReplay prints the resolved events from a point up to the end of
// COMMS_RESOLVED, with progress on stderr, and exits.
func cmdReplay(ctx context.Context, cio cmdIO, args []string) error {
	var f eventFlags
	fs := newFlags(cio, "replay", "-since <time|seq|duration> [-status s1,s2] [-cc clientContext] [-json] [-progress N]",
		"Print the resolved events of COMMS_RESOLVED from -since on, in stream order, and exit once\ncaught up with the stream. Progress goes to stderr every -progress events.")
	f.register(fs, sinceDoc+" (required)")
	every := fs.Int("progress", 1000, "report progress on stderr every N events (0: only at the end)")
	pos, err := parse(fs, cio, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("replay takes no arguments (got %q); filter with -cc and -status", pos)
	}
	if f.since == "" {
		return usagef("replay needs -since: a stream sequence (1 for everything), an RFC 3339 time or a duration ago (15m)")
	}
	if *every < 0 {
		return usagef("-progress %d: give 0 or more", *every)
	}
	opts, desc, err := f.options(time.Now())
	if err != nil {
		return err
	}
	conn, err := connect(ctx, cio.errOut)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	if _, err := stream(ctx, conn.JS, events.StreamResolved); err != nil {
		return err
	}
	// The Subscriber's options give the filters and the start; the replay
	// itself reads with an ordered consumer: no acks, nothing left behind.
	sub, err := events.NewSubscriber(conn.JS, opts...)
	if err != nil {
		return err
	}
	cc := sub.ConsumerConfig()
	oc, err := conn.JS.OrderedConsumer(ctx, events.StreamResolved, jetstream.OrderedConsumerConfig{
		FilterSubjects: cc.FilterSubjects, DeliverPolicy: cc.DeliverPolicy, OptStartSeq: cc.OptStartSeq, OptStartTime: cc.OptStartTime,
	})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(500))
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer it.Stop()
	total := oc.CachedInfo().NumPending
	if total == 0 {
		fmt.Fprintf(cio.errOut, "nothing to replay: no event of %s matches (%s)\n", events.StreamResolved, desc)
		return nil
	}
	fmt.Fprintf(cio.errOut, "replaying %d events of %s (%s)\n", total, events.StreamResolved, desc)
	var n, last uint64
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("replay interrupted after %d/%d events, at #%d: resume with -since %d", n, total, last, last+1)
			}
			return fmt.Errorf("replay stopped after %d/%d events, at #%d (%w): resume with -since %d", n, total, last, err, last+1)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		n, last = n+1, meta.Sequence.Stream
		total = max(total, n+meta.NumPending) // events stored meanwhile
		v, err := decodeView(m)
		if err != nil {
			fmt.Fprintf(cio.errOut, "#%d %s: not a resolved event (%v); skipped\n", v.seq, v.subject, err)
		} else if err := printView(cio.out, v, f.asJSON); err != nil {
			return err
		}
		if *every > 0 && n%uint64(*every) == 0 && meta.NumPending > 0 {
			fmt.Fprintf(cio.errOut, "replayed %d/%d\n", n, total)
		}
		if meta.NumPending == 0 {
			fmt.Fprintf(cio.errOut, "replayed %d/%d: caught up at #%d\n", n, total, last)
			return nil
		}
	}
}
