package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/commsops/commsops/internal/resolver"
	"github.com/commsops/commsops/pkg/events"
)

// cmdGet prints the resolver's state of one clientContext's operations.
func cmdGet(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the state as stored (JSON)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("get needs one clientContext: opsctl get <clientContext>")
	}
	cc := fs.Arg(0)
	conn, err := connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	kv, err := conn.JS.KeyValue(ctx, events.BucketState)
	if err != nil {
		return fmt.Errorf("bucket %s: %w (has a resolver run yet?)", events.BucketState, err)
	}
	entry, err := kv.Get(ctx, events.Key(cc))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("no state for clientContext %q (key %s): unknown, or expired after the retention", cc, events.Key(cc))
	}
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := fmt.Fprintf(stdout, "%s\n", entry.Value())
		return err
	}
	var st resolver.KeyState
	if err := json.Unmarshal(entry.Value(), &st); err != nil {
		return fmt.Errorf("state of %q is not readable: %w", cc, err)
	}
	fmt.Fprintf(stdout, "clientContext %q (key %s, revision %d): %d operation(s)\n", cc, st.Key, entry.Revision(), len(st.Ops))
	for _, op := range st.Ops {
		var emitted []string
		for _, s := range op.Emitted {
			emitted = append(emitted, string(s))
		}
		fmt.Fprintf(stdout, "  op %s (%s) call %s\n    status %s  emitted [%s]  raceDetected %v\n",
			orDash(op.ID), strings.TrimPrefix(op.ODataType, "#microsoft.graph."), op.CallID, orDash(string(op.Status)),
			strings.Join(emitted, " "), op.RaceDetected)
		if op.ResultInfo != nil {
			fmt.Fprintf(stdout, "    resultInfo %d/%d %q  completionReason %s\n", op.ResultInfo.Code, op.ResultInfo.Subcode, op.ResultInfo.Message, orDash(op.CompletionReason))
		}
		for _, s := range op.Sources {
			absorbed := ""
			if s.Absorbed {
				absorbed = " (absorbed)"
			}
			fmt.Fprintf(stdout, "    - %s %s #%d %s%s\n", s.ReceivedAt.Format("15:04:05.000"), s.Kind, s.StreamSeq, orDash(string(s.Status)), absorbed)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
