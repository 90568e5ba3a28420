// Package service holds what every commsops process does the same way: read
// its one configuration struct from the environment (envconfig), print every
// variable with its default for -h, build its slog logger, log its
// configuration with secrets masked, and serve HTTP with a graceful shutdown.
package service
