package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/deadletter"
	"github.com/commsops/commsops/internal/graphwire"
	"github.com/commsops/commsops/internal/inbound"
	"github.com/commsops/commsops/internal/subjects"
	"github.com/commsops/commsops/pkg/events"
)

const dlqHeaderPrefix = "commsops-dlq-"

// cmdDLQ lists or redrives dead letters.
func cmdDLQ(ctx context.Context, cio cmdIO, args []string) error {
	if len(args) == 0 {
		return usagef("dlq needs a subcommand: opsctl dlq list, or opsctl dlq redrive (-seq N | -all)")
	}
	switch args[0] {
	case "list":
		return dlqList(ctx, cio, args[1:])
	case "redrive":
		return dlqRedrive(ctx, cio, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(cio.out, "usage: opsctl dlq list [-json]\n       opsctl dlq redrive (-seq N | -all) [-dry-run]\n\nopsctl dlq list -h and opsctl dlq redrive -h print their flags.\n")
		return errHelp
	}
	return usagef("unknown dlq subcommand %q: list or redrive", args[0])
}

// deadLetter is one COMMS_DLQ message as the resolver wrote it.
type deadLetter struct {
	Seq        uint64              `json:"seq"`
	Time       time.Time           `json:"time"`
	Subject    string              `json:"subject"`
	Reason     string              `json:"reason"`
	Stream     string              `json:"stream"`
	Stored     string              `json:"storedSubject"`
	StreamSeq  string              `json:"streamSeq"`
	Deliveries string              `json:"deliveries"`
	Worker     string              `json:"worker"`
	MsgID      string              `json:"msgId,omitempty"`
	Headers    map[string][]string `json:"headers,omitempty"` // the original's, without the Commsops-Dlq-* ones
	Size       int                 `json:"size"`
	header     nats.Header
	data       []byte
}

func newDeadLetter(seq uint64, t time.Time, subject string, h nats.Header, data []byte) deadLetter {
	d := deadLetter{Seq: seq, Time: t.UTC(), Subject: subject, Size: len(data), header: h, data: data,
		Reason: h.Get(deadletter.HeaderReason), Stream: h.Get(deadletter.HeaderStream), Stored: h.Get(deadletter.HeaderSubject),
		StreamSeq: h.Get(deadletter.HeaderSeq), Deliveries: h.Get(deadletter.HeaderDeliveries), Worker: h.Get(deadletter.HeaderWorker),
		MsgID: h.Get(deadletter.HeaderMsgID)}
	for k, v := range originalHeaders(h) {
		if d.Headers == nil {
			d.Headers = map[string][]string{}
		}
		d.Headers[k] = v
	}
	return d
}

// originalHeaders returns the headers of the original message: all but the
// dead-letter ones and JetStream's own (Nats-*: a redrive sets its own).
func originalHeaders(h nats.Header) nats.Header {
	out := nats.Header{}
	for k, v := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, dlqHeaderPrefix) || strings.HasPrefix(lk, "nats-") {
			continue
		}
		out[k] = slices.Clone(v)
	}
	return out
}

// target returns the subject to republish a dead letter to: the publish
// subject of its stored COMMS_IN subject (comms.in.<partition>.<kind>.<key>
// → comms.in.<kind>.<key>; COMMS_IN's transform puts the partition back).
func (d deadLetter) target() (string, error) {
	if d.Stream != "" && d.Stream != events.StreamIn {
		return "", fmt.Errorf("dead letter #%d came from stream %s: opsctl redrives only %s's", d.Seq, d.Stream, events.StreamIn)
	}
	if d.Stored == "" {
		return "", fmt.Errorf("dead letter #%d has no %s header, so its origin is unknown: not written by a resolver; read it with `nats stream get %s %d` and republish it by hand",
			d.Seq, deadletter.HeaderSubject, events.StreamDeadLetter, d.Seq)
	}
	s, err := subjects.ParseStoredIn(d.Stored)
	if err != nil {
		return "", fmt.Errorf("dead letter #%d: %s %q is not a stored %s subject (comms.in.<partition>.<kind>.<key>)", d.Seq, deadletter.HeaderSubject, d.Stored, events.StreamIn)
	}
	return inbound.InSubject(graphwire.Kind(s.Kind), s.Key), nil
}

// eachDeadLetter calls f for every message of COMMS_DLQ in order.
func eachDeadLetter(ctx context.Context, js jetstream.JetStream, headersOnly bool, f func(deadLetter) error) error {
	oc, err := js.OrderedConsumer(ctx, events.StreamDeadLetter, jetstream.OrderedConsumerConfig{HeadersOnly: headersOnly})
	if err != nil {
		return fmt.Errorf("read %s: %w", events.StreamDeadLetter, err)
	}
	it, err := oc.Messages()
	if err != nil {
		return fmt.Errorf("read %s: %w", events.StreamDeadLetter, err)
	}
	defer it.Stop()
	if oc.CachedInfo().NumPending == 0 {
		return nil
	}
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("read %s: %w", events.StreamDeadLetter, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		if err := f(newDeadLetter(meta.Sequence.Stream, meta.Timestamp, m.Subject(), m.Headers(), m.Data())); err != nil {
			return err
		}
		if meta.NumPending == 0 {
			return nil
		}
	}
}

func dlqList(ctx context.Context, cio cmdIO, args []string) error {
	fs := newFlags(cio, "dlq list", "[-json]",
		"List the input messages the resolver dead-lettered into COMMS_DLQ: when, from which COMMS_IN\nsubject and sequence, after how many deliveries, on which worker, and why.")
	asJSON := fs.Bool("json", false, "print one JSON object per dead letter")
	pos, err := parse(fs, cio, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("dlq list takes no arguments (got %q)", pos)
	}
	conn, err := connect(ctx, cio.errOut)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	if _, err := stream(ctx, conn.JS, events.StreamDeadLetter); err != nil {
		return err
	}
	n := 0
	err = eachDeadLetter(ctx, conn.JS, false, func(d deadLetter) error {
		n++
		if *asJSON {
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cio.out, "%s\n", b)
			return err
		}
		to, terr := d.target()
		if terr != nil {
			to = "cannot redrive: " + terr.Error()
		}
		_, err := fmt.Fprintf(cio.out, "#%d  %s  from %s #%s (%s)  deliveries %s  worker %s  msg-id %s  %d bytes\n    reason: %s\n    redrive to: %s\n",
			d.Seq, d.Time.Format(time.RFC3339), orDash(d.Stream), orDash(d.StreamSeq), orDash(d.Stored), orDash(d.Deliveries),
			orDash(d.Worker), orDash(d.MsgID), d.Size, orDash(d.Reason), to)
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case n == 0:
		fmt.Fprintf(cio.errOut, "no dead letters in %s\n", events.StreamDeadLetter)
	case !*asJSON:
		fmt.Fprintf(cio.errOut, "%d dead letter(s); once the cause is fixed: opsctl dlq redrive -seq N (or -all)\n", n)
	}
	return nil
}

func dlqRedrive(ctx context.Context, cio cmdIO, args []string) error {
	fs := newFlags(cio, "dlq redrive", "(-seq N | -all) [-dry-run]",
		"Put dead letters back into COMMS_IN, once what made them fail is fixed: each is republished\nto its publish subject (comms.in.<kind>.<key>; COMMS_IN stores it in the key's partition\nagain) with its original headers, without the Commsops-Dlq-* ones and with a fresh\nNats-Msg-Id, then deleted from COMMS_DLQ. Repeating a redrive is safe.")
	var seqs []uint64
	fs.Func("seq", "the COMMS_DLQ sequence of a dead letter to redrive (repeat, or comma separate, for several)", func(s string) error {
		for _, p := range splitList(s) {
			n, err := strconv.ParseUint(p, 10, 64)
			if err != nil || n == 0 {
				return fmt.Errorf("%q is not a stream sequence (see opsctl dlq list)", p)
			}
			seqs = append(seqs, n)
		}
		return nil
	})
	all := fs.Bool("all", false, "redrive every dead letter")
	dry := fs.Bool("dry-run", false, "print what would be done, change nothing")
	pos, err := parse(fs, cio, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("dlq redrive takes no arguments (got %q): give -seq N or -all", pos)
	}
	if (len(seqs) > 0) == *all {
		return usagef("dlq redrive needs either -seq N or -all (opsctl dlq list shows the sequences)")
	}
	conn, err := connect(ctx, cio.errOut)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	dlq, err := stream(ctx, conn.JS, events.StreamDeadLetter)
	if err != nil {
		return err
	}
	in, err := stream(ctx, conn.JS, events.StreamIn)
	if err != nil {
		return err
	}
	if *all {
		if err := eachDeadLetter(ctx, conn.JS, true, func(d deadLetter) error { seqs = append(seqs, d.Seq); return nil }); err != nil {
			return err
		}
		if len(seqs) == 0 {
			fmt.Fprintf(cio.errOut, "no dead letters in %s: nothing to redrive\n", events.StreamDeadLetter)
			return nil
		}
	}
	var errs []error
	done := 0
	for _, seq := range seqs {
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("interrupted before #%d", seq))
			break
		}
		line, err := redriveOne(ctx, conn.JS, dlq, in, seq, *dry)
		if err != nil {
			errs = append(errs, err)
			fmt.Fprintf(cio.errOut, "#%d not redriven: %v\n", seq, err)
			continue
		}
		done++
		fmt.Fprintln(cio.out, line)
	}
	verb := "redrove"
	if *dry {
		verb = "would redrive"
	}
	fmt.Fprintf(cio.errOut, "%s %d of %d dead letter(s)\n", verb, done, len(seqs))
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d dead letter(s) not redriven (they stay in %s): %w", len(errs), len(seqs), events.StreamDeadLetter, errors.Join(errs...))
	}
	return nil
}

// redriveOne republishes dead letter seq into COMMS_IN and deletes it from
// COMMS_DLQ. Its Nats-Msg-Id is derived from the dead letter, so running it
// again after a failed delete stores nothing twice (within COMMS_IN's
// duplicate window).
func redriveOne(ctx context.Context, js jetstream.JetStream, dlq, in jetstream.Stream, seq uint64, dry bool) (string, error) {
	raw, err := dlq.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", fmt.Errorf("no dead letter #%d in %s (already redriven or expired? opsctl dlq list shows what is there)", seq, events.StreamDeadLetter)
	}
	if err != nil {
		return "", fmt.Errorf("read #%d: %w", seq, err)
	}
	d := newDeadLetter(raw.Sequence, raw.Time, raw.Subject, raw.Header, raw.Data)
	to, err := d.target()
	if err != nil {
		return "", err
	}
	msgID := fmt.Sprintf("redrive-%s-%d-%d", events.StreamDeadLetter, d.Seq, raw.Time.UnixNano())
	if dry {
		return fmt.Sprintf("would redrive #%d → %s (was %s #%s; reason: %s) with Nats-Msg-Id %s", d.Seq, to, orDash(d.Stored), orDash(d.StreamSeq), orDash(d.Reason), msgID), nil
	}
	msg := &nats.Msg{Subject: to, Header: originalHeaders(raw.Header), Data: raw.Data}
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(events.StreamIn))
	if err != nil {
		return "", fmt.Errorf("publish #%d to %s: %w (nothing changed)", seq, to, err)
	}
	stored := "?"
	if m, err := in.GetMsg(ctx, ack.Sequence); err == nil {
		stored = m.Subject
	}
	if err := dlq.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", fmt.Errorf("#%d is stored again as %s #%d but could not be deleted from %s (%w): running the redrive again is safe", seq, events.StreamIn, ack.Sequence, events.StreamDeadLetter, err)
	}
	note := ""
	if ack.Duplicate {
		note = " (already stored by an earlier redrive)"
	}
	return fmt.Sprintf("redrove #%d → %s #%d %s%s (was %s #%s; reason: %s)", seq, events.StreamIn, ack.Sequence, stored, note, orDash(d.Stored), orDash(d.StreamSeq), orDash(d.Reason)), nil
}
