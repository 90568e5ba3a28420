// Command opsctl is the operators' tool for commsops:
//
//	opsctl tail   [-status s1,s2] [-cc clientContext] [-since time|seq|duration] [-json]
//	opsctl get    [-json] [-key] <clientContext>
//	opsctl replay -since <time|seq|duration> [-status s1,s2] [-cc clientContext] [-json] [-progress N]
//	opsctl dlq list [-json]
//	opsctl dlq redrive (-seq N | -all) [-dry-run]
//	opsctl demo   [-url http://127.0.0.1:8080] [-token T]
//	opsctl reset-resolver [-dry-run] [-yes]
//	opsctl -version
//
// It reads the same environment as every commsops process (NATS_URL,
// NATS_CREDS, ...; `opsctl -h` lists them). With NATS_URL unset it joins the
// dev server on 127.0.0.1:COMMSOPS_DEV_PORT and never starts one.
//
// Its version is stamped at build time like cmd/ingest's and cmd/resolver's:
//
//	go build -ldflags "-X main.version=$(git describe --tags --always)" ./cmd/opsctl
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/commsops/commsops/internal/service"
)

// version is set at build time (-ldflags "-X main.version=..."; see
// deploy/Dockerfile); opsctl -version prints it.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is a command line opsctl cannot make sense of.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errHelp: usage was asked for and printed.
var errHelp = flag.ErrHelp

// exitCode prints err and returns the exit status: 0 done (or -h), 2 a bad
// command line, 1 anything else.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "opsctl: %v\n(opsctl -h lists the commands, opsctl <command> -h their flags)\n", err)
		return 2
	}
	fmt.Fprintln(stderr, "opsctl:", err)
	return 1
}

// command is one subcommand.
type command struct {
	name, synopsis, summary string
	run                     func(ctx context.Context, io cmdIO, args []string) error
}

// cmdIO is where a command writes: results to out, progress and notes to
// errOut; in answers its questions (reset-resolver's confirmation).
type cmdIO struct {
	in          io.Reader
	out, errOut io.Writer
}

var commands = []command{
	{"tail", "[-status s1,s2] [-cc clientContext] [-since time|seq|duration] [-json]",
		"print resolved events as they are stored (from -since, else from now) until Ctrl-C", cmdTail},
	{"get", "[-json] [-key] <clientContext>",
		"print the resolver's current state of a clientContext's operations (KV COMMS_OPS)", cmdGet},
	{"replay", "-since <time|seq|duration> [-status s1,s2] [-cc clientContext] [-json] [-progress N]",
		"print resolved events from a point in COMMS_RESOLVED and exit once caught up", cmdReplay},
	{"dlq", "list [-json] | redrive (-seq N | -all) [-dry-run]",
		"list dead-lettered input (COMMS_DLQ), or put it back into COMMS_IN once its cause is fixed", cmdDLQ},
	{"demo", "[-url http://127.0.0.1:8080] [-token T]",
		"feed the bundled sample call (with the race in it) through a running ingest", cmdDemo},
	{"reset-resolver", "[-dry-run] [-yes]",
		"delete the resolver's consumers and state to rebuild it from COMMS_IN (asks first)", cmdResetResolver},
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "opsctl %s: operate a commsops pipeline.\n\nUsage:\n", version)
	for _, c := range commands {
		fmt.Fprintf(w, "  opsctl %-6s %s\n", c.name, c.synopsis)
	}
	fmt.Fprint(w, "\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-6s  %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
  opsctl <command> -h prints the command's flags; opsctl -version the version.

-since takes a COMMS_RESOLVED stream sequence (1200), an RFC 3339 time
(2026-11-22T10:00:00Z) or a duration back from now (15m, 2h).

NATS: NATS_URL and the other variables below, as for every commsops process.
With NATS_URL unset, opsctl joins the dev server on 127.0.0.1:COMMSOPS_DEV_PORT
(start it with `+"`go run ./cmd/devstack`"+`); it never starts one itself.

`)
	var cfg config
	_ = service.Load("opsctl", []string{"-h"}, &cfg, w, nil)
}

// run executes one opsctl command line (without the program name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return usagef("no command given")
	}
	if isHelp(args[0]) || args[0] == "help" {
		if len(args) > 1 && !isHelp(args[1]) {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return errHelp
	}
	if isVersion(args[0]) {
		if len(args) > 1 {
			return usagef("%s takes no arguments (got %q)", args[0], args[1:])
		}
		fmt.Fprintf(stdout, "opsctl %s\n", version)
		return nil
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == args[0] })
	if i < 0 {
		return usagef("unknown command %q: the commands are tail, get, replay, dlq, demo and reset-resolver", args[0])
	}
	return commands[i].run(ctx, cmdIO{in: os.Stdin, out: stdout, errOut: stderr}, args[1:])
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

func isVersion(a string) bool { return a == "-version" || a == "--version" || a == "version" }

// newFlags returns the flag set of a command; its usage goes to the
// command's error output (to stdout for -h, see parse).
func newFlags(cio cmdIO, name, synopsis, doc string) *flag.FlagSet {
	fs := flag.NewFlagSet("opsctl "+name, flag.ContinueOnError)
	fs.SetOutput(cio.errOut)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: opsctl %s %s\n\n%s\n", name, synopsis, doc)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(w, "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses flags and positional arguments in any order ("get cc -json"
// as well as "get -json cc"); everything after "--" is positional. -h prints
// the usage to out and returns errHelp; a bad flag returns a usageError.
func parse(fs *flag.FlagSet, cio cmdIO, args []string) ([]string, error) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if isHelp(a) {
			fs.SetOutput(cio.out)
			fs.Usage()
			return nil, errHelp
		}
	}
	fs.SetOutput(io.Discard) // parse errors are returned, with a pointer to -h
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
