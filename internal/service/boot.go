package service

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/commsops/commsops/internal/tracing"
)

// Base returns the shared part of a process configuration; every process
// config embeds Common and so has it.
func (c *Common) Base() *Common { return c }

// Boot is every process's first step: it loads cfg from args and the
// environment (ErrHelp after printing -h), builds the logger, logs the
// configuration with secrets masked, and sets up tracing when an OTLP exporter
// is configured. It returns the logger and a function that flushes tracing
// within ctx (and at most 5s), to defer with the shutdown's context
// (ShutdownDeadline).
func Boot(ctx context.Context, name, version string, args []string, cfg interface{ Base() *Common }) (*slog.Logger, func(context.Context), error) {
	if err := Load(name, args, cfg, os.Stdout, nil); err != nil {
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
	return log, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = stopTracing(ctx)
	}, nil
}
