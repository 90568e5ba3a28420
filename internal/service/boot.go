package service

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/commsops/commsops/internal/tracing"
)

// Base returns the shared part of a process configuration; every process
// config embeds Common and so has it.
func (c *Common) Base() *Common { return c }

// Boot is every process's first step: it loads cfg from args and the
// environment (ErrHelp after printing -h, or after printing "name version"
// for -version, before the environment is judged), builds the logger, logs the
// configuration with secrets masked, sets up tracing when an OTLP exporter
// is configured, and, when cfg embeds Debug and its address is set, serves
// the profiler until ctx ends. It returns the logger and a function that
// flushes tracing within ctx (and at most 5s), to defer with the shutdown's
// context (ShutdownDeadline).
func Boot(ctx context.Context, name, version string, args []string, cfg interface{ Base() *Common }) (*slog.Logger, func(context.Context), error) {
	var showVersion bool
	err := Load(name, args, cfg, os.Stdout, func(fs *flag.FlagSet) {
		fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	})
	if showVersion {
		fmt.Fprintf(os.Stdout, "%s %s\n", name, version)
		return nil, nil, ErrHelp
	}
	if err != nil {
		return nil, nil, err
	}
	c := cfg.Base()
	log := NewLogger(os.Stderr, c.LogFormat, c.LogLevel, c.DevMode(), name)
	log.Info("starting", append([]any{"version", version}, Redacted(cfg)...)...)
	traced, stopTracing, err := tracing.Setup(ctx, "commsops-"+name)
	if err != nil {
		return nil, nil, err
	}
	log.Info("tracing", "otlp_exporter", traced)
	addr := "off"
	if d, ok := cfg.(interface{ debugAddr() string }); ok {
		addr = d.debugAddr()
	}
	if _, err := ServeDebug(ctx, addr, log); err != nil {
		_ = stopTracing(ctx)
		return nil, nil, err
	}
	return log, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = stopTracing(ctx)
	}, nil
}
