package graphauth

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Claims are what a verified token says about its caller.
type Claims struct {
	// Issuer is iss, one of Config.Issuers.
	Issuer string
	// Audience is the configured audience, which aud names.
	Audience string
	// TenantID is tid ("" when the token has none and Tenants is empty).
	TenantID string
	// Subject is sub ("" when absent).
	Subject string
	// ExpiresAt is exp.
	ExpiresAt time.Time
}

// checkClaims checks exp, nbf, aud, iss and tid of a token whose signature
// has been verified, in that order, and returns its Claims.
func checkClaims(tok jwt.Token, cfg Config, now time.Time) (*Claims, error) {
	exp, ok := tok.Expiration()
	if !ok {
		return nil, fmt.Errorf("%w: the token has no exp claim", ErrExpired)
	}
	if now.After(exp.Add(cfg.Leeway)) {
		return nil, fmt.Errorf("%w: exp %s is more than %s ago", ErrExpired, exp.UTC().Format(time.RFC3339), cfg.Leeway)
	}
	if nbf, ok := tok.NotBefore(); ok && nbf.After(now.Add(cfg.Leeway)) {
		return nil, fmt.Errorf("%w: nbf %s is more than %s ahead", ErrNotYetValid, nbf.UTC().Format(time.RFC3339), cfg.Leeway)
	}
	aud, _ := tok.Audience()
	if !slices.Contains(aud, cfg.Audience) {
		return nil, fmt.Errorf("%w: aud %q does not name the configured audience", ErrAudience, clipAll(aud))
	}
	iss, _ := tok.Issuer()
	if !slices.Contains(cfg.Issuers, iss) {
		return nil, fmt.Errorf("%w: iss %q is not an accepted issuer", ErrIssuer, clip(iss))
	}
	var tid string
	if err := tok.Get("tid", &tid); err != nil && !errors.Is(err, jwt.ClaimNotFoundError()) {
		return nil, fmt.Errorf("%w: the tid claim is not a string", ErrTenant)
	}
	if len(cfg.Tenants) > 0 && !slices.Contains(cfg.Tenants, tid) {
		if tid == "" {
			return nil, fmt.Errorf("%w: the token has no tid claim", ErrTenant)
		}
		return nil, fmt.Errorf("%w: tid %q is not an accepted tenant", ErrTenant, clip(tid))
	}
	sub, _ := tok.Subject()
	return &Claims{Issuer: iss, Audience: cfg.Audience, TenantID: tid, Subject: sub, ExpiresAt: exp}, nil
}
