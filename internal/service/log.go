package service

import (
	"io"
	"log/slog"
	"strings"
)

// NewLogger returns a slog logger writing to w: JSON when format is "json",
// text when "text"; when empty, text in dev mode and JSON otherwise.
func NewLogger(w io.Writer, format, level string, devMode bool, process string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	if format == "json" || (format == "" && !devMode) {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("process", process)
}
