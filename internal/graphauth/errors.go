package graphauth

import "errors"

// Sentinel errors of Verify and StaticTokens.Verify, wrapped with what failed.
// None of their messages contains the token.
var (
	// ErrMissingToken: no Authorization header, or an empty bearer token.
	ErrMissingToken = errors.New("graphauth: missing bearer token")
	// ErrMalformedToken: not "Bearer <token>", or not a compact JWS.
	ErrMalformedToken = errors.New("graphauth: malformed token")
	// ErrUnsupportedAlg: a signature algorithm other than RS256 (none, HS256, ...).
	ErrUnsupportedAlg = errors.New("graphauth: unsupported signature algorithm")
	// ErrUnknownKey: the token's key id is not in the JWKS, even after a refresh.
	ErrUnknownKey = errors.New("graphauth: unknown signing key")
	// ErrBadSignature: the signature does not verify with the key.
	ErrBadSignature = errors.New("graphauth: bad signature")
	// ErrExpired: exp is missing or in the past (beyond the leeway).
	ErrExpired = errors.New("graphauth: token expired")
	// ErrNotYetValid: nbf is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("graphauth: token not yet valid")
	// ErrAudience: aud does not hold the configured audience.
	ErrAudience = errors.New("graphauth: wrong audience")
	// ErrIssuer: iss is not an accepted issuer.
	ErrIssuer = errors.New("graphauth: wrong issuer")
	// ErrTenant: tid is not an accepted tenant.
	ErrTenant = errors.New("graphauth: wrong tenant")
	// ErrKeysUnavailable: the OpenID configuration or the JWKS could not be fetched.
	ErrKeysUnavailable = errors.New("graphauth: signing keys unavailable")
	// ErrBadToken: a static bearer token that matches none configured.
	ErrBadToken = errors.New("graphauth: bearer token not accepted")
	// ErrConfig: an invalid configuration.
	ErrConfig = errors.New("graphauth: invalid configuration")
)
