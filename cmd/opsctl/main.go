// Command opsctl is the operators' tool for commsops:
//
//	opsctl tail   [-status s1,s2] [-cc clientContext] [-json]   live resolved events
//	opsctl get    [-json] <clientContext>                       current state of its operations
//	opsctl replay -since <RFC 3339 time | stream seq> [-status ...] [-cc ...] [-json]
//	opsctl dlq list                                             dead-lettered input
//	opsctl dlq redrive (-seq N | -all)                          put dead letters back into COMMS_IN
//	opsctl demo   [-url http://127.0.0.1:8080] [-token T]       feed the bundled sample capture
//
// It connects with the same variables as the other processes (NATS_URL, ...);
// with NATS_URL unset it joins the dev server on 127.0.0.1:COMMSOPS_DEV_PORT
// and never starts one.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "opsctl:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `opsctl: operate commsops.

  opsctl tail   [-status s1,s2] [-cc clientContext] [-json]    live resolved events
  opsctl get    [-json] <clientContext>                        current state of its operations
  opsctl replay -since <RFC 3339 time | stream seq> [-status ...] [-cc ...] [-json]
  opsctl dlq list                                              dead-lettered input messages
  opsctl dlq redrive (-seq N | -all)                           put dead letters back into COMMS_IN
  opsctl demo   [-url http://127.0.0.1:8080] [-token T]        feed the bundled sample capture

NATS from NATS_URL (and NATS_CREDS, NATS_USER, ... as for every commsops process);
unset: the dev server on 127.0.0.1:4222 (COMMSOPS_DEV_PORT).
`

// run executes one opsctl command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "tail":
		return cmdTail(ctx, args[1:], stdout, stderr)
	case "get":
		return cmdGet(ctx, args[1:], stdout)
	case "replay":
		return cmdReplay(ctx, args[1:], stdout, stderr)
	case "dlq":
		return cmdDLQ(ctx, args[1:], stdout)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q: see opsctl -h", args[0])
}
