package graphauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Verifier verifies the bearer JWTs Graph puts on notification callbacks.
// Safe for concurrent use.
type Verifier struct {
	cfg       Config
	keys      *keySource
	now       func() time.Time
	closeOnce sync.Once
}

// NewVerifier validates cfg, fetches the OpenID configuration and the JWKS
// it names once (failing with an error wrapping ErrKeysUnavailable, and
// naming the URL, when it cannot or when the JWKS holds no usable RS256
// key), then refreshes them in the background every cfg.RefreshInterval
// until Close. ctx bounds the initial fetches only. A nil log logs to
// slog.Default().
func NewVerifier(ctx context.Context, cfg Config, log *slog.Logger) (*Verifier, error) {
	return newVerifier(ctx, cfg, log, time.Now)
}

// newVerifier is NewVerifier with the clock of the expiry checks and of the
// unknown-kid rate limit (tests).
func newVerifier(ctx context.Context, cfg Config, log *slog.Logger, now func() time.Time) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "graphauth")
	if u, _ := url.Parse(cfg.OpenIDConfigURL); u != nil && u.Scheme != "https" {
		log.Warn("the OpenID configuration is fetched without TLS", "url", cfg.OpenIDConfigURL)
	}
	keys, err := newKeySource(ctx, cfg, log, now)
	if err != nil {
		return nil, err
	}
	log.Info("graph token verification ready", "openid_config", cfg.OpenIDConfigURL,
		"issuers", cfg.Issuers, "tenants", len(cfg.Tenants), "leeway", cfg.Leeway,
		"refresh_interval", cfg.RefreshInterval, "min_refresh_interval", cfg.MinRefreshInterval)
	return &Verifier{cfg: cfg, keys: keys, now: now}, nil
}

// Close stops the background refreshes, ending a fetch in flight, and waits
// for them to end. Verify keeps working on the cached keys afterwards; an
// unknown kid then fails with ErrKeysUnavailable. Close may be called more
// than once.
func (v *Verifier) Close() {
	v.closeOnce.Do(v.keys.close)
}

// Verify checks an Authorization header value "Bearer <JWT>" (the scheme in
// any casing) and returns the token's claims. The checks, in order: a
// compact JWS; alg RS256 (none, HS256 and every other algorithm are
// refused before any key is looked up); the signature with the cached JWKS
// key named by kid; exp (required) and nbf within the leeway; aud names
// Audience; iss is one of Issuers; tid is one of Tenants when set.
//
// Verify never waits for the network: an unknown kid fails at once with
// ErrUnknownKey and starts a background refresh of the JWKS (at most one at
// a time, and one per MinRefreshInterval), so a token signed with a newly
// published key verifies once that refresh has finished. ctx is not used.
//
// Every error wraps one sentinel of errors.go, names the check that failed,
// and never contains the token, a URL, an upstream error or a timing.
func (v *Verifier) Verify(ctx context.Context, authorizationHeader string) (*Claims, error) {
	raw, err := bearer(authorizationHeader)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a compact JWS (header.payload.signature)", ErrMalformedToken)
	}
	// The algorithm is checked on the raw header first, so that a token the
	// JOSE library would not even parse ("None", no alg) is still reported
	// as an unsupported algorithm.
	alg, err := headerAlg(parts[0])
	if err != nil {
		return nil, err
	}
	if alg != jwa.RS256().String() {
		return nil, fmt.Errorf("%w: alg %q (only RS256 is accepted)", ErrUnsupportedAlg, clip(alg))
	}
	if parts[2] == "" {
		return nil, fmt.Errorf("%w: the token has no signature", ErrBadSignature)
	}
	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, fmt.Errorf("%w: the JWS header or encoding does not parse", ErrMalformedToken)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	if a, ok := hdr.Algorithm(); !ok || a != jwa.RS256() {
		return nil, fmt.Errorf("%w: only RS256 is accepted", ErrUnsupportedAlg)
	}
	kid, _ := hdr.KeyID()
	key, err := v.keys.key(kid)
	if err != nil {
		return nil, err
	}
	if _, err := jws.Verify([]byte(raw), jws.WithKey(jwa.RS256(), key), jws.WithCompact()); err != nil {
		return nil, fmt.Errorf("%w: the RS256 signature does not verify with key id %q", ErrBadSignature, clip(kid))
	}
	tok, err := jwt.ParseInsecure([]byte(raw)) // the signature is verified above
	if err != nil {
		return nil, fmt.Errorf("%w: the payload is not a JWT claims set", ErrMalformedToken)
	}
	return checkClaims(tok, v.cfg, v.now())
}

// headerAlg returns the alg of a JWS protected header segment ("" when
// absent). Its errors wrap ErrMalformedToken.
func headerAlg(segment string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return "", fmt.Errorf("%w: the JWS header is not base64url", ErrMalformedToken)
	}
	var h struct {
		Alg *string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", fmt.Errorf("%w: the JWS header does not parse as a JSON object with a string alg", ErrMalformedToken)
	}
	if h.Alg == nil {
		return "", fmt.Errorf("%w: the JWS header has no alg (only RS256 is accepted)", ErrUnsupportedAlg)
	}
	return *h.Alg, nil
}
