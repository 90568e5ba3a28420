package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main is a service binary's main: it calls run with a context that SIGINT
// or SIGTERM cancels and the command line's arguments, and when run fails
// (other than after -h) it writes "name: error" to Stderr and exits 1.
func Main(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, ErrHelp) {
		fmt.Fprintln(Stderr, name+":", err)
		os.Exit(1)
	}
}
