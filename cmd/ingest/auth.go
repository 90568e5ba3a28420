package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/commsops/commsops/internal/ingest"
)

// authenticators returns the guards of /v1/notifications and /v1/responses
// for INGEST_AUTH, and a function that releases them.
func authenticators(_ context.Context, mode string, cfg Config, log *slog.Logger) (ingest.Authenticator, ingest.Authenticator, func(), error) {
	switch mode {
	case "none":
		log.Warn("INGEST_AUTH=none: requests are NOT authenticated; never expose this ingest to the internet")
		return nil, nil, func() {}, nil
	case "graph":
		return nil, nil, nil, errors.New("INGEST_AUTH=graph is not available in this build yet: set INGEST_AUTH=none behind a trusted proxy")
	}
	return nil, nil, nil, fmt.Errorf("INGEST_AUTH=%q: use graph or none", mode)
}
