package graphsim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// keyBits is the modulus size of the signing keys (graphauth needs 2048+).
const keyBits = 2048

// maxPublished bounds the keys the JWKS keeps: the newest ones, so a key
// retired by a rotation still verifies tokens signed just before it.
const maxPublished = 3

// keyring holds the signing keys: the published public keys (newest last),
// the key tokens are signed with, and a published key that takes over at a
// set time, as Microsoft publishes a new key before it signs with it. Safe
// for concurrent use.
type keyring struct {
	mu        sync.Mutex
	published []jwk.Key
	signing   jwk.Key
	next      jwk.Key
	nextFrom  time.Time
}

// newKeyring returns a keyring with one fresh key, published and signing.
func newKeyring() (*keyring, error) {
	priv, pub, err := newKey()
	if err != nil {
		return nil, err
	}
	return &keyring{published: []jwk.Key{pub}, signing: priv}, nil
}

// newKey returns a fresh RSA key pair as JWKs with kid (its RFC 7638
// thumbprint), alg RS256 and use sig.
func newKey() (priv, pub jwk.Key, err error) {
	raw, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, nil, fmt.Errorf("graphsim: generate key: %w", err)
	}
	priv, err = jwk.Import(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("graphsim: import key: %w", err)
	}
	tp, err := priv.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("graphsim: thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	for k, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.RS256(), jwk.KeyUsageKey: "sig"} {
		if err := priv.Set(k, v); err != nil {
			return nil, nil, fmt.Errorf("graphsim: key %s: %w", k, err)
		}
	}
	pub, err = jwk.PublicKeyOf(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("graphsim: public key: %w", err)
	}
	return priv, pub, nil
}

// rotate publishes a fresh key now and signs with it from at on. It returns
// the new key's kid.
func (k *keyring) rotate(at time.Time) (string, error) {
	priv, pub, err := newKey()
	if err != nil {
		return "", err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.next != nil { // a rotation still pending is overtaken
		k.signing = k.next
	}
	k.published = append(k.published, pub)
	if len(k.published) > maxPublished {
		k.published = k.published[len(k.published)-maxPublished:]
	}
	k.next, k.nextFrom = priv, at
	kid, _ := priv.KeyID()
	return kid, nil
}

// current returns the key to sign with at now, switching to a pending key
// once its time has come.
func (k *keyring) current(now time.Time) jwk.Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.next != nil && !now.Before(k.nextFrom) {
		k.signing, k.next = k.next, nil
	}
	return k.signing
}

// jwks returns the published keys as a JWKS document.
func (k *keyring) jwks() ([]byte, error) {
	k.mu.Lock()
	set := jwk.NewSet()
	for _, pub := range k.published {
		if err := set.AddKey(pub); err != nil {
			k.mu.Unlock()
			return nil, fmt.Errorf("graphsim: jwks: %w", err)
		}
	}
	k.mu.Unlock()
	return json.Marshal(set)
}

// sign returns a bearer JWT as Graph puts on a callback, and its kid: RS256,
// kid of the current key, iss, aud and tid as given, iat now, nbf a little
// before, exp an hour after.
func (k *keyring) sign(now time.Time, iss, aud, tid string) (string, string, error) {
	tok, err := jwt.NewBuilder().
		Issuer(iss).
		Audience([]string{aud}).
		IssuedAt(now).
		NotBefore(now.Add(-5*time.Minute)).
		Expiration(now.Add(time.Hour)).
		Claim("tid", tid).
		Build()
	if err != nil {
		return "", "", fmt.Errorf("graphsim: token: %w", err)
	}
	key := k.current(now)
	kid, _ := key.KeyID()
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), key))
	if err != nil {
		return "", "", fmt.Errorf("graphsim: sign: %w", err)
	}
	return string(b), kid, nil
}
