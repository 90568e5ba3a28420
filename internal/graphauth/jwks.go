package graphauth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

const (
	// maxJWKSLen bounds the JWKS document read.
	maxJWKSLen = 1 << 20
	// minRSABits is the smallest RSA modulus accepted as a signing key.
	minRSABits = 2048
	// maxReasonLen bounds the library error quoted in a skipped key's reason.
	maxReasonLen = 200
)

// skippedKey is a JWKS entry that cannot verify RS256 tokens, and why.
type skippedKey struct {
	kid    string
	reason string
}

// fetchKeys GETs the JWKS at jwksURL and returns its usable RS256 keys and
// the entries it skipped. It fails, wrapping errNoUsableKeys, when the
// document holds no usable key, so that a caller never replaces usable keys
// with an empty set. Its errors name the URL and the upstream error: they
// are for the log and for NewVerifier, never for a 401.
func fetchKeys(ctx context.Context, hc *http.Client, jwksURL string) (jwk.Set, []skippedKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("JWKS %s: %w", jwksURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching the JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("JWKS %s answered %s", jwksURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSLen+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the JWKS %s: %w", jwksURL, err)
	}
	if len(body) > maxJWKSLen {
		return nil, nil, fmt.Errorf("JWKS %s is larger than %d bytes", jwksURL, maxJWKSLen)
	}
	set, skipped, err := usableKeys(body)
	if err != nil {
		return nil, skipped, fmt.Errorf("JWKS %s: %w", jwksURL, err)
	}
	return set, skipped, nil
}

// usableKeys parses a JWKS document and returns a set holding, for each
// entry usable for RS256 verification, only its kid and public RSA key.
// Unusable entries are returned as skipped; a document without any usable
// entry fails with an error wrapping errNoUsableKeys.
func usableKeys(doc []byte) (jwk.Set, []skippedKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, nil, fmt.Errorf("%w: not a JSON key set: %v", errNoUsableKeys, err)
	}
	set := jwk.NewSet()
	var skipped []skippedKey
	for _, entry := range raw.Keys {
		key, kid, reason := usableKey(entry)
		if reason == "" {
			if _, dup := set.LookupKeyID(kid); dup {
				reason = "a second key with the same kid"
			}
		}
		if reason == "" {
			if err := set.AddKey(key); err != nil {
				reason = "cannot be added to the set: " + err.Error()
			}
		}
		if reason != "" {
			skipped = append(skipped, skippedKey{kid: clip(kid), reason: reason})
		}
	}
	if set.Len() == 0 {
		return nil, skipped, fmt.Errorf("%w (%d entries, %d skipped)", errNoUsableKeys, len(raw.Keys), len(skipped))
	}
	return set, skipped, nil
}

// usableKey returns the RS256 verification key of one JWKS entry and its
// kid, or the reason it is not usable: not RSA, an alg other than RS256, a
// use other than sig, no kid, or a modulus under minRSABits bits or an
// exponent that is not an odd number of at least 3.
func usableKey(entry json.RawMessage) (jwk.Key, string, string) {
	var hdr struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(entry, &hdr) // only to name the entry when it does not parse
	key, err := jwk.ParseKey(entry) // validates n and e too
	if err != nil {
		return nil, hdr.Kid, "does not parse as a JWK: " + clipReason(err.Error())
	}
	kid, _ := key.KeyID()
	if kid == "" {
		return nil, kid, "no kid"
	}
	if kty := key.KeyType(); kty != jwa.RSA() {
		return nil, kid, fmt.Sprintf("kty %q is not RSA", clip(kty.String()))
	}
	if alg, ok := key.Algorithm(); ok && alg.String() != jwa.RS256().String() {
		return nil, kid, fmt.Sprintf("alg %q is not RS256", clip(alg.String()))
	}
	if use, ok := key.KeyUsage(); ok && use != string(jwk.ForSignature) {
		return nil, kid, fmt.Sprintf("use %q is not sig", clip(use))
	}
	raw, err := jwk.PublicRawKeyOf(key)
	if err != nil {
		return nil, kid, "no RSA public key"
	}
	pub, ok := raw.(*rsa.PublicKey)
	if !ok || pub.N == nil {
		return nil, kid, "no RSA public key"
	}
	// jwk.ParseKey checks these as well; checked again so that a change
	// of the library's defaults cannot let a weak key in.
	if bits := pub.N.BitLen(); bits < minRSABits {
		return nil, kid, fmt.Sprintf("a %d-bit modulus (at least %d required)", bits, minRSABits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return nil, kid, fmt.Sprintf("exponent %d", pub.E)
	}
	out, err := jwk.Import(pub)
	if err != nil {
		return nil, kid, "no RSA public key"
	}
	if err := out.Set(jwk.KeyIDKey, kid); err != nil {
		return nil, kid, "kid cannot be set"
	}
	return out, kid, ""
}

// clipReason cuts a library error quoted in a log record to maxReasonLen.
func clipReason(s string) string {
	if len(s) <= maxReasonLen {
		return s
	}
	return s[:maxReasonLen] + "..."
}
