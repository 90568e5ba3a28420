// Package graphauth authenticates the ingest's callers: Microsoft Graph's
// bearer JWT on notification callbacks (RS256, keys from the OpenID
// configuration's JWKS, expiry, audience, issuer, tenant), and the static
// bearer tokens bots present on /v1/responses.
//
// JOSE parsing and signature verification use github.com/lestrrat-go/jwx/v3.
// The key cache is this package's: keys are fetched at start, refreshed on a
// schedule (2h, as Microsoft's sample does) and on an unknown key id, at most
// once per MinRefreshInterval, so a flood of forged kids cannot make the
// ingest hammer the JWKS endpoint.
package graphauth
