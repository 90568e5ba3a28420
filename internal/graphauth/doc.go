// Package graphauth authenticates the ingest's two kinds of caller.
//
// Microsoft Graph signs every notification callback with a bearer JWT
// (Authorization: Bearer <JWT>). A [Verifier] checks it as Graph documents:
// RS256 only, the signature against the key named by the token's kid in the
// JWKS published at the OpenID configuration's jwks_uri, exp and nbf (with a
// small leeway), aud (the bot's app id), iss (one of the accepted issuers) and,
// when tenants are configured, tid.
//
// Bots post to /v1/responses with a static bearer token; [StaticTokens]
// compares it in constant time against the configured tokens.
//
// JOSE parsing and signature verification use github.com/lestrrat-go/jwx/v3,
// and its jwk.Cache (on github.com/lestrrat-go/httprc/v3) holds the JWKS and
// refreshes it every RefreshInterval. NewVerifier fails when the OpenID
// configuration or the JWKS cannot be fetched at start. A token whose kid the
// cached JWKS lacks triggers one refresh, at most once per MinRefreshInterval
// for the whole Verifier, so a flood of forged kids cannot make the ingest
// hammer the key endpoint. The OpenID configuration is re-read every
// RefreshInterval too, so a moved jwks_uri is followed.
//
// Every error returned by Verify wraps one of the sentinels in errors.go and
// says what failed; no message contains the token or any part of it (claim
// values such as a wrong audience or tenant may be named).
package graphauth
