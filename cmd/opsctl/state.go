package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/pkg/events"
)

// cmdGet prints the resolver's state of one clientContext's operations.
func cmdGet(ctx context.Context, cio cmdIO, args []string) error {
	fs := newFlags(cio, "get", "[-json] [-key] <clientContext>",
		"Print the resolver's current state of the operations of one clientContext, as stored in\nthe KV bucket COMMS_OPS: status, statuses emitted, raceDetected, and every piece of\nevidence (sources) with its COMMS_IN sequence.")
	asJSON := fs.Bool("json", false, "print the state as stored (resolver.KeyState, indented JSON)")
	rawKey := fs.Bool("key", false, "the argument is a key as in subjects (events.Key of a clientContext, or the key of an operation without one)")
	pos, err := parse(fs, cio, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("get needs one clientContext (got %d arguments): opsctl get <clientContext>; quote it if it holds spaces", len(pos))
	}
	cc, key := pos[0], events.Key(pos[0])
	what := fmt.Sprintf("clientContext %s (key %s)", quoteIfNeeded(cc), key)
	if *rawKey {
		key, what = cc, "key "+cc
	}
	conn, err := connect(ctx, cio.errOut)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	kv, err := keyValue(ctx, conn.JS)
	if err != nil {
		return err
	}
	entry, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return fmt.Errorf("no state for %s: the resolver has seen no evidence for it, or all its operations finished more than RESOLVER_RETENTION ago; its resolved events may still be in COMMS_RESOLVED: opsctl replay -since 24h -cc %s", what, quoteIfNeeded(cc))
	}
	if err != nil {
		return fmt.Errorf("read %s from %s: %w", key, events.BucketState, err)
	}
	if *asJSON {
		var b bytes.Buffer
		if err := json.Indent(&b, entry.Value(), "", "  "); err != nil {
			return fmt.Errorf("the state of %s is not JSON: %w", what, err)
		}
		b.WriteByte('\n')
		_, err := cio.out.Write(b.Bytes())
		return err
	}
	var st resolver.KeyState
	if err := json.Unmarshal(entry.Value(), &st); err != nil {
		return fmt.Errorf("the state of %s is not readable by this opsctl (%w): try -json", what, err)
	}
	return printState(cio.out, what, entry, &st)
}

func printState(w io.Writer, what string, entry jetstream.KeyValueEntry, st *resolver.KeyState) error {
	const ts = "2006-01-02T15:04:05.000Z"
	var b strings.Builder
	fmt.Fprintf(&b, "%s: state revision %d, written %s\n", what, entry.Revision(), entry.Created().UTC().Format(ts))
	fmt.Fprintf(&b, "%d operation(s)", len(st.Ops))
	if st.Open() {
		b.WriteString(", some still open")
	}
	b.WriteString("\n")
	for _, op := range st.Ops {
		fmt.Fprintf(&b, "\n  %s %s  call %s  (slot %s)\n", shortType(op.ODataType), orDash(op.ID), orDash(op.CallID), op.Slot)
		if op.ClientContext != "" {
			fmt.Fprintf(&b, "    clientContext     %s\n", quoteIfNeeded(op.ClientContext))
		}
		emitted := make([]string, 0, len(op.Emitted))
		for _, s := range op.Emitted {
			emitted = append(emitted, string(s))
		}
		fmt.Fprintf(&b, "    status            %s\n", orDash(string(op.Status)))
		fmt.Fprintf(&b, "    emitted           %s\n", orDash(strings.Join(emitted, ", ")))
		fmt.Fprintf(&b, "    raceDetected      %v\n", op.RaceDetected)
		if op.ResultInfo != nil {
			fmt.Fprintf(&b, "    resultInfo        %d/%d %q\n", op.ResultInfo.Code, op.ResultInfo.Subcode, op.ResultInfo.Message)
		}
		if op.CompletionReason != "" {
			fmt.Fprintf(&b, "    completionReason  %s\n", op.CompletionReason)
		}
		fmt.Fprintf(&b, "    firstSeen         %s\n", op.FirstSeenAt.UTC().Format(ts))
		fmt.Fprintf(&b, "    lastNews          %s\n", op.LastNewsAt.UTC().Format(ts))
		if !op.StallDue.IsZero() && !op.Status.Terminal() && !slices.Contains(op.Emitted, events.StatusStalled) {
			fmt.Fprintf(&b, "    stall check due   %s (%s from now)\n", op.StallDue.UTC().Format(ts), time.Until(op.StallDue).Round(time.Second))
		}
		if len(op.Extra) > 0 {
			names := make([]string, 0, len(op.Extra))
			for k := range op.Extra {
				names = append(names, k)
			}
			slices.Sort(names)
			fmt.Fprintf(&b, "    further fields    %s\n", strings.Join(names, ", "))
		}
		fmt.Fprintf(&b, "    sources (%d)\n", len(op.Sources))
		for _, s := range op.Sources {
			absorbed := ""
			if s.Absorbed {
				absorbed = "  absorbed"
			}
			fmt.Fprintf(&b, "      %s  %-12s COMMS_IN #%-6d %s%s\n", s.ReceivedAt.UTC().Format(ts), s.Kind, s.StreamSeq, orDash(string(s.Status)), absorbed)
		}
		if op.SourcesDropped > 0 {
			fmt.Fprintf(&b, "      (%d older sources dropped to bound the state)\n", op.SourcesDropped)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
