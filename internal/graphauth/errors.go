package graphauth

import "errors"

// Sentinel errors. Verify and StaticTokens.Verify wrap exactly one of the
// token sentinels with a description of the check that failed; match them
// with errors.Is. No message contains the token or its signature, and none
// of Verify's names a URL, an upstream error or a refresh timing (those go
// to the log).
var (
	// ErrMissingToken: no Authorization header, or "Bearer" with no token.
	ErrMissingToken = errors.New("graphauth: missing bearer token")
	// ErrMalformedToken: the header is not "Bearer <token>", or the token is
	// not a compact JWS with a JSON claims set.
	ErrMalformedToken = errors.New("graphauth: malformed token")
	// ErrUnsupportedAlg: the token is signed with an algorithm other than
	// RS256 ("none", HS256, ES256, ...).
	ErrUnsupportedAlg = errors.New("graphauth: unsupported signature algorithm")
	// ErrBadSignature: the signature does not verify with the JWKS key named
	// by the token's kid.
	ErrBadSignature = errors.New("graphauth: bad signature")
	// ErrUnknownKey: the token names no kid, or one the cached keys lack. It
	// is returned at once; the refresh an unknown kid may start runs in the
	// background, so a token signed with a newly published key verifies once
	// that refresh has finished.
	ErrUnknownKey = errors.New("graphauth: unknown signing key")
	// ErrExpired: exp is missing, or is past by more than the leeway.
	ErrExpired = errors.New("graphauth: token expired")
	// ErrNotYetValid: nbf is ahead by more than the leeway.
	ErrNotYetValid = errors.New("graphauth: token not yet valid")
	// ErrAudience: aud does not name the configured audience.
	ErrAudience = errors.New("graphauth: wrong audience")
	// ErrIssuer: iss is not one of the accepted issuers.
	ErrIssuer = errors.New("graphauth: wrong issuer")
	// ErrTenant: tenants are configured and tid is missing or not one of them.
	ErrTenant = errors.New("graphauth: wrong tenant")
	// ErrKeysUnavailable: NewVerifier could not fetch the OpenID
	// configuration or a JWKS with a usable key, or Verify met an unknown
	// kid after Close, when the keys are no longer refreshed.
	ErrKeysUnavailable = errors.New("graphauth: signing keys unavailable")
	// ErrBadToken: a static bearer token that matches none of the configured
	// tokens (or is not presented as "Bearer <token>").
	ErrBadToken = errors.New("graphauth: bearer token not accepted")
	// ErrConfig: an invalid Config or static token list.
	ErrConfig = errors.New("graphauth: invalid configuration")

	// errNoUsableKeys: a JWKS document holds no key usable for RS256
	// verification (empty, not JSON, or only unusable entries). Such a
	// document never replaces the cached keys.
	errNoUsableKeys = errors.New("graphauth: the JWKS holds no usable RS256 key")
)

// maxEchoLen bounds a claim or header value quoted in an error message.
const maxEchoLen = 64

// clip returns s, cut to maxEchoLen bytes with "..." appended when longer, so
// that an attacker-chosen claim value cannot flood messages and logs.
func clip(s string) string {
	if len(s) <= maxEchoLen {
		return s
	}
	return s[:maxEchoLen] + "..."
}

// clipAll applies clip to every element of ss.
func clipAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clip(s)
	}
	return out
}
