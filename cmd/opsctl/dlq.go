package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/pkg/events"
)

// cmdDLQ lists or redrives dead letters.
func cmdDLQ(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("dlq needs a subcommand: list or redrive")
	}
	conn, err := connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	s, err := conn.JS.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		return fmt.Errorf("%s: %w", events.StreamDeadLetter, err)
	}
	switch args[0] {
	case "list":
		return dlqList(ctx, s, stdout)
	case "redrive":
		fs := flag.NewFlagSet("dlq redrive", flag.ContinueOnError)
		seq := fs.Uint64("seq", 0, "the COMMS_DLQ sequence to redrive")
		all := fs.Bool("all", false, "redrive every dead letter")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if (*seq == 0) == !*all {
			return errors.New("dlq redrive needs -seq N or -all")
		}
		return dlqRedrive(ctx, conn.JS, s, *seq, stdout)
	}
	return fmt.Errorf("unknown dlq subcommand %q: list or redrive", args[0])
}

// deadLetters calls f for each message of COMMS_DLQ (or only seq, when not 0).
func deadLetters(ctx context.Context, s jetstream.Stream, seq uint64, f func(*jetstream.RawStreamMsg) error) error {
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if seq != 0 {
		first, last = seq, seq
	}
	for i := first; i <= last && info.State.Msgs > 0; i++ {
		m, err := s.GetMsg(ctx, i)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			if seq != 0 {
				return fmt.Errorf("no dead letter #%d in %s (see opsctl dlq list)", seq, events.StreamDeadLetter)
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := f(m); err != nil {
			return err
		}
	}
	return nil
}

func dlqList(ctx context.Context, s jetstream.Stream, stdout io.Writer) error {
	n := 0
	err := deadLetters(ctx, s, 0, func(m *jetstream.RawStreamMsg) error {
		n++
		fmt.Fprintf(stdout, "#%d %s from %s #%s after %s deliveries (worker %s)\n    reason: %s\n", m.Sequence,
			m.Time.Format("2006-01-02T15:04:05Z07:00"), m.Header.Get(resolver.HeaderDLQSubject), m.Header.Get(resolver.HeaderDLQSeq),
			m.Header.Get(resolver.HeaderDLQDeliveries), m.Header.Get(resolver.HeaderDLQWorker), m.Header.Get(resolver.HeaderDLQReason))
		return nil
	})
	if err == nil && n == 0 {
		fmt.Fprintln(stdout, "no dead letters")
	}
	return err
}

// dlqRedrive republishes dead letters to their publish subject in COMMS_IN
// (the stored subject less its partition token), without the dead-letter
// headers and with a fresh Nats-Msg-Id, then deletes them from COMMS_DLQ.
func dlqRedrive(ctx context.Context, js jetstream.JetStream, s jetstream.Stream, seq uint64, stdout io.Writer) error {
	return deadLetters(ctx, s, seq, func(m *jetstream.RawStreamMsg) error {
		stored, err := events.ParseStoredInSubject(m.Header.Get(resolver.HeaderDLQSubject))
		if err != nil {
			return fmt.Errorf("dead letter #%d: %w", m.Sequence, err)
		}
		h := nats.Header{}
		for k, v := range m.Header {
			if !strings.HasPrefix(k, "Commsops-Dlq-") && !strings.HasPrefix(k, "Nats-") {
				h[k] = v
			}
		}
		out := &nats.Msg{Subject: events.InSubject(stored.Kind, stored.Key), Header: h, Data: m.Data}
		ack, err := js.PublishMsg(ctx, out, jetstream.WithMsgID(fmt.Sprintf("redrive-%d-%d", m.Sequence, m.Time.UnixNano())),
			jetstream.WithExpectStream(events.StreamIn))
		if err != nil {
			return fmt.Errorf("redrive #%d: %w", m.Sequence, err)
		}
		if err := s.DeleteMsg(ctx, m.Sequence); err != nil {
			return fmt.Errorf("redrive #%d stored as COMMS_IN #%d but not deleted from %s: %w", m.Sequence, ack.Sequence, events.StreamDeadLetter, err)
		}
		fmt.Fprintf(stdout, "redrove #%d → %s #%d (%s)\n", m.Sequence, events.StreamIn, ack.Sequence, out.Subject)
		return nil
	})
}
