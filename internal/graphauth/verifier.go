package graphauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Claims are what a verified token says about its caller.
type Claims struct {
	Issuer, TenantID, Subject string
	Audience                  []string
	ExpiresAt                 time.Time
}

// Verifier verifies Graph's callback tokens. Safe for concurrent use.
type Verifier struct {
	cfg  Config
	keys *keyCache
	log  *slog.Logger
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// NewVerifier fetches the OpenID configuration and the JWKS once (it fails
// with ErrKeysUnavailable when it cannot), then refreshes the keys every
// RefreshInterval in the background until Close.
func NewVerifier(ctx context.Context, cfg Config, log *slog.Logger) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	jwksURL, err := discover(ctx, cfg)
	if err != nil {
		return nil, err
	}
	keys := &keyCache{cfg: cfg, jwksURL: jwksURL}
	if err := keys.refresh(ctx); err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	v := &Verifier{cfg: cfg, keys: keys, log: log, stop: stop}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		t := time.NewTicker(cfg.RefreshInterval)
		defer t.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-t.C:
				if err := keys.refresh(bg); err != nil {
					log.Warn("signing keys refresh failed; keeping the cached keys", "err", err)
				}
			}
		}
	}()
	log.Info("graph token verification ready", "jwks", jwksURL, "issuers", cfg.Issuers, "tenants", len(cfg.Tenants))
	return v, nil
}

// Close stops the background refresh. Verify keeps working on cached keys.
func (v *Verifier) Close() {
	v.stop()
	v.wg.Wait()
}

// Verify checks an Authorization header value ("Bearer <JWT>") and returns
// the token's claims, or an error wrapping one of the sentinels that says what
// failed without quoting the token.
func (v *Verifier) Verify(ctx context.Context, authorization string) (*Claims, error) {
	raw, err := bearer(authorization)
	if err != nil {
		return nil, err
	}
	msg, err := jws.Parse([]byte(raw))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, fmt.Errorf("%w: not a compact JWS with one signature", ErrMalformedToken)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg, _ := hdr.Algorithm()
	if alg != jwa.RS256() {
		return nil, fmt.Errorf("%w: %q (only RS256 is accepted)", ErrUnsupportedAlg, alg.String())
	}
	kid, _ := hdr.KeyID()
	key, err := v.keys.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	tok, err := jwt.Parse([]byte(raw), jwt.WithKey(jwa.RS256(), key), jwt.WithValidate(false))
	if err != nil {
		return nil, fmt.Errorf("%w: signature does not verify with key %q", ErrBadSignature, kid)
	}
	return v.claims(tok)
}

func (v *Verifier) claims(tok jwt.Token) (*Claims, error) {
	now := v.cfg.Now()
	c := &Claims{}
	exp, ok := tok.Expiration()
	if !ok {
		return nil, fmt.Errorf("%w: no exp claim", ErrExpired)
	}
	if now.After(exp.Add(v.cfg.Leeway)) {
		return nil, fmt.Errorf("%w: expired at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := tok.NotBefore(); ok && nbf.After(now.Add(v.cfg.Leeway)) {
		return nil, fmt.Errorf("%w: valid from %s", ErrNotYetValid, nbf.UTC().Format(time.RFC3339))
	}
	c.ExpiresAt = exp
	c.Audience, _ = tok.Audience()
	if !slices.Contains(c.Audience, v.cfg.Audience) {
		return nil, fmt.Errorf("%w: %q does not include the configured audience", ErrAudience, c.Audience)
	}
	c.Issuer, _ = tok.Issuer()
	if !slices.Contains(v.cfg.Issuers, c.Issuer) {
		return nil, fmt.Errorf("%w: %q", ErrIssuer, c.Issuer)
	}
	var tid string
	if err := tok.Get("tid", &tid); err != nil && !errors.Is(err, jwt.ClaimNotFoundError()) {
		return nil, fmt.Errorf("%w: tid claim: %v", ErrTenant, err)
	}
	c.TenantID = tid
	if len(v.cfg.Tenants) > 0 && !slices.Contains(v.cfg.Tenants, tid) {
		return nil, fmt.Errorf("%w: %q", ErrTenant, tid)
	}
	c.Subject, _ = tok.Subject()
	return c, nil
}

// bearer returns the token of "Bearer <token>" (scheme in any casing).
func bearer(authorization string) (string, error) {
	f := strings.Fields(authorization)
	switch {
	case len(f) == 0:
		return "", fmt.Errorf("%w: no Authorization header", ErrMissingToken)
	case !strings.EqualFold(f[0], "Bearer"):
		return "", fmt.Errorf("%w: Authorization is not a Bearer token", ErrMalformedToken)
	case len(f) == 1:
		return "", fmt.Errorf("%w: empty bearer token", ErrMissingToken)
	case len(f) > 2:
		return "", fmt.Errorf("%w: Authorization holds more than one token", ErrMalformedToken)
	}
	return f[1], nil
}
