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
// JOSE parsing and signature verification use github.com/lestrrat-go/jwx/v3.
// The key cache is ours (keys.go, jwks.go): it keeps only the JWKS entries
// usable for RS256 (kty RSA, alg RS256 or none, use sig or none, a kid, a
// modulus of at least 2048 bits), and a JWKS without any such entry (empty,
// not JSON, only unusable keys) never replaces the cached keys; that is
// logged as an error. NewVerifier fails when the OpenID configuration or a
// usable JWKS cannot be fetched at start.
//
// One background goroutine refreshes the keys: every RefreshInterval
// (re-reading the OpenID configuration first, so a moved jwks_uri is
// followed) and when a token names a kid the cache lacks, at most once per
// MinRefreshInterval for the whole Verifier, so a flood of forged kids
// cannot make the ingest hammer the key endpoint. Each refresh has its own
// timeout. Verify never waits for it: the unknown kid is refused at once,
// and a token signed with a key Microsoft has just published verifies once
// the refresh has finished.
//
// Every error returned by Verify wraps one of the sentinels in errors.go and
// names the check that failed; no message contains the token or any part of
// it (claim values such as a wrong audience or tenant may be named), nor a
// URL, an upstream error or a refresh timing: those are logged, with fixed
// messages.
package graphauth
