package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode"

	"github.com/commsops/commsops/internal/graphauth"
	"github.com/commsops/commsops/internal/ingest"
)

// authenticators returns the guards of /v1/notifications and /v1/responses
// for INGEST_AUTH, and a function that releases them. With graph, callbacks
// must carry Graph's JWT and responses one of INGEST_RESPONSE_TOKENS.
func authenticators(ctx context.Context, mode string, cfg Config, log *slog.Logger) (ingest.Authenticator, ingest.Authenticator, func(), error) {
	switch mode {
	case "none":
		log.Warn("INGEST_AUTH=none: requests are NOT authenticated; never expose this ingest to the internet")
		return nil, nil, func() {}, nil
	case "graph":
	default:
		return nil, nil, nil, fmt.Errorf("INGEST_AUTH=%q: use graph or none", mode)
	}
	if strings.TrimSpace(cfg.JWTAudience) == "" {
		return nil, nil, nil, fmt.Errorf("INGEST_AUTH=graph needs INGEST_JWT_AUDIENCE (the bot's app id); set INGEST_AUTH=none only behind a trusted proxy")
	}
	if err := checkTokens(cfg.ResponseTokens); err != nil {
		return nil, nil, nil, err
	}
	tokens, err := graphauth.NewStaticTokens(cfg.ResponseTokens)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("INGEST_AUTH=graph needs INGEST_RESPONSE_TOKENS for /v1/responses: %w", err)
	}
	v, err := graphauth.NewVerifier(ctx, graphauth.Config{
		Audience:        cfg.JWTAudience,
		Issuers:         cfg.JWTIssuers,
		OpenIDConfigURL: cfg.OpenIDConfigURL,
		Tenants:         cfg.Tenants,
	}, log)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("INGEST_OPENID_CONFIG_URL: %w", err)
	}
	notif := ingest.AuthenticatorFunc(func(r *http.Request) error {
		_, err := v.Verify(r.Context(), r.Header.Get("Authorization"))
		return err
	})
	resp := ingest.AuthenticatorFunc(func(r *http.Request) error {
		return tokens.Verify(r.Header.Get("Authorization"))
	})
	return notif, resp, v.Close, nil
}

// checkTokens refuses INGEST_RESPONSE_TOKENS entries that no bearer token
// can ever match: empty ones and ones with surrounding white space (such as
// "a, b" split at the comma). The error names the entry by its position,
// never its value.
func checkTokens(tokens []string) error {
	for i, t := range tokens {
		switch {
		case t == "":
			return fmt.Errorf("INGEST_RESPONSE_TOKENS entry %d of %d is empty: separate tokens with a single comma", i+1, len(tokens))
		case strings.ContainsFunc(t, unicode.IsSpace):
			return fmt.Errorf("INGEST_RESPONSE_TOKENS entry %d of %d holds white space (around it, or within) and would never match a bearer token: remove it (separate tokens with a comma only)", i+1, len(tokens))
		}
	}
	return nil
}
