package graphauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

const audience = "bot-app-id-1234"

// idp is a local OpenID configuration + JWKS endpoint with keys the test
// generates and can rotate.
type idp struct {
	srv       *httptest.Server
	mu        sync.Mutex
	keys      map[string]*rsa.PrivateKey
	published []string // kids in the JWKS
	jwksHits  atomic.Int64
}

func newIDP(t *testing.T, kids ...string) *idp {
	t.Helper()
	p := &idp{keys: map[string]*rsa.PrivateKey{}}
	for _, kid := range kids {
		p.addKey(t, kid, true)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/openid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":"https://api.botframework.com","jwks_uri":%q}`, p.srv.URL+"/jwks")
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		set := jwk.NewSet()
		for _, kid := range p.published {
			k, err := jwk.PublicKeyOf(&p.keys[kid].PublicKey)
			if err != nil {
				t.Error(err)
				return
			}
			_ = k.Set(jwk.KeyIDKey, kid)
			_ = set.AddKey(k)
		}
		_ = json.NewEncoder(w).Encode(set)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) addKey(t *testing.T, kid string, publish bool) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[kid] = k
	if publish {
		p.published = append(p.published, kid)
	}
}

func (p *idp) publish(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = append(p.published, kid)
}

type claims map[string]any

func validClaims(now time.Time) claims {
	return claims{"aud": audience, "iss": "https://api.botframework.com", "tid": "tenant-a",
		"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix(), "sub": "graph"}
}

// sign returns an RS256 token with kid over c.
func (p *idp) sign(t *testing.T, kid string, c claims) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range c {
		if err := tok.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	key, err := jwk.Import(p.keys[kid])
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, kid)
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), key))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newVerifier(t *testing.T, p *idp, mod func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{Audience: audience, OpenIDConfigURL: p.srv.URL + "/openid", Leeway: time.Minute}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestVerify(t *testing.T) {
	p := newIDP(t, "k1")
	p.addKey(t, "unpublished", false)
	v := newVerifier(t, p, func(c *Config) { c.Tenants = []string{"tenant-a"} })
	now := time.Now()
	with := func(mod func(c claims)) claims {
		c := validClaims(now)
		mod(c)
		return c
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&p.keys["k1"].PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsWithPublicKey := func() string {
		tok := jwt.New()
		for k, val := range validClaims(now) {
			_ = tok.Set(k, val)
		}
		hdr := jws.NewHeaders()
		_ = hdr.Set(jws.KeyIDKey, "k1")
		b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), pubPEM, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}()
	valid := p.sign(t, "k1", validClaims(now))
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + b64(with(func(c claims) { c["aud"] = "someone-else"; c["tid"] = "tenant-b" })) + "." + parts[2]

	cases := []struct {
		name   string
		header string
		want   error
	}{
		{"valid", "Bearer " + valid, nil},
		{"scheme in another casing", "bearer " + valid, nil},
		{"within the leeway", "Bearer " + p.sign(t, "k1", with(func(c claims) { c["exp"] = now.Add(-30 * time.Second).Unix() })), nil},
		{"wrong audience", "Bearer " + p.sign(t, "k1", with(func(c claims) { c["aud"] = "other-app" })), ErrAudience},
		{"wrong issuer", "Bearer " + p.sign(t, "k1", with(func(c claims) { c["iss"] = "https://evil.example" })), ErrIssuer},
		{"wrong tenant", "Bearer " + p.sign(t, "k1", with(func(c claims) { c["tid"] = "tenant-b" })), ErrTenant},
		{"expired", "Bearer " + p.sign(t, "k1", with(func(c claims) { c["exp"] = now.Add(-5 * time.Minute).Unix() })), ErrExpired},
		{"no exp", "Bearer " + p.sign(t, "k1", with(func(c claims) { delete(c, "exp") })), ErrExpired},
		{"not yet valid", "Bearer " + p.sign(t, "k1", with(func(c claims) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), ErrNotYetValid},
		{"unknown key", "Bearer " + p.sign(t, "unpublished", validClaims(now)), ErrUnknownKey},
		{"alg none", "Bearer " + b64(map[string]string{"alg": "none", "typ": "JWT", "kid": "k1"}) + "." + b64(validClaims(now)) + ".", ErrUnsupportedAlg},
		{"HS256 signed with the public key", "Bearer " + hsWithPublicKey, ErrUnsupportedAlg},
		{"tampered payload", "Bearer " + tampered, ErrBadSignature},
		{"missing header", "", ErrMissingToken},
		{"empty bearer", "Bearer ", ErrMissingToken},
		{"basic scheme", "Basic dXNlcjpwYXNz", ErrMalformedToken},
		{"garbage", "Bearer not.a.jwt", ErrMalformedToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.header)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				tok := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(tc.header, "Bearer "), "bearer "))
				if len(tok) > 8 && strings.Contains(err.Error(), tok) {
					t.Fatalf("error echoes the token: %v", err)
				}
				for _, part := range strings.Split(tok, ".") {
					if len(part) > 16 && strings.Contains(err.Error(), part) {
						t.Fatalf("error echoes part of the token: %v", err)
					}
				}
				return
			}
			if c.TenantID != "tenant-a" || c.Issuer != "https://api.botframework.com" {
				t.Fatalf("claims %+v", c)
			}
		})
	}
}

func TestTenantCheckOffWhenUnset(t *testing.T) {
	p := newIDP(t, "k1")
	v := newVerifier(t, p, nil)
	c := validClaims(time.Now())
	c["tid"] = "any-tenant"
	if _, err := v.Verify(context.Background(), "Bearer "+p.sign(t, "k1", c)); err != nil {
		t.Fatal(err)
	}
}

// TestKeyRotationAndRefreshRateLimit: a token signed with a key the cache
// does not know triggers one refresh and then verifies; a flood of unknown
// key ids triggers at most one refresh per MinRefreshInterval.
func TestKeyRotationAndRefreshRateLimit(t *testing.T) {
	p := newIDP(t, "k1")
	now := time.Now()
	clock := &now
	var mu sync.Mutex
	v := newVerifier(t, p, func(c *Config) {
		c.MinRefreshInterval = time.Minute
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return *clock }
	})
	advance := func(d time.Duration) { mu.Lock(); *clock = clock.Add(d); mu.Unlock() }
	start := p.jwksHits.Load()

	// Rotation: k2 appears in the JWKS after the verifier cached it.
	p.addKey(t, "k2", false)
	tok := p.sign(t, "k2", validClaims(now))
	advance(2 * time.Minute)
	if _, err := v.Verify(context.Background(), "Bearer "+tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("before publication: %v", err)
	}
	p.publish("k2")
	if _, err := v.Verify(context.Background(), "Bearer "+tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("within the rate limit the cache must not refresh again: %v", err)
	}
	advance(2 * time.Minute)
	if _, err := v.Verify(context.Background(), "Bearer "+tok); err != nil {
		t.Fatalf("after the rotation: %v", err)
	}
	afterRotation := p.jwksHits.Load()
	if afterRotation-start != 2 {
		t.Fatalf("%d refreshes for the rotation, want 2", afterRotation-start)
	}

	// Flood of forged key ids: no refresh within the interval.
	p.addKey(t, "forged", false)
	forged := p.sign(t, "forged", validClaims(now))
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = v.Verify(context.Background(), "Bearer "+forged) }()
	}
	wg.Wait()
	if hits := p.jwksHits.Load() - afterRotation; hits != 0 {
		t.Fatalf("%d refreshes during the flood, want 0 within MinRefreshInterval", hits)
	}
	advance(2 * time.Minute)
	for i := 0; i < 50; i++ {
		_, _ = v.Verify(context.Background(), "Bearer "+forged)
	}
	if hits := p.jwksHits.Load() - afterRotation; hits != 1 {
		t.Fatalf("%d refreshes after the interval, want 1", hits)
	}
}

func TestNewVerifierFailsClearly(t *testing.T) {
	_, err := NewVerifier(context.Background(), Config{Audience: audience, OpenIDConfigURL: "http://127.0.0.1:1/openid"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewVerifier(context.Background(), Config{}, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("no audience: %v", err)
	}
}

func TestStaticTokens(t *testing.T) {
	if _, err := NewStaticTokens(nil); !errors.Is(err, ErrConfig) {
		t.Fatal("no tokens accepted")
	}
	if _, err := NewStaticTokens([]string{"short"}); !errors.Is(err, ErrConfig) {
		t.Fatal("short token accepted")
	}
	s, err := NewStaticTokens([]string{"aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		header string
		want   error
	}{
		{"Bearer aaaaaaaaaaaaaaaaaaaa", nil},
		{"Bearer bbbbbbbbbbbbbbbbbbbb", nil},
		{"Bearer aaaaaaaaaaaaaaaaaaab", ErrBadToken},
		{"Bearer aaaa", ErrBadToken},
		{"", ErrMissingToken},
		{"Token aaaaaaaaaaaaaaaaaaaa", ErrMalformedToken},
	} {
		if err := s.Verify(tc.header); !errors.Is(err, tc.want) {
			t.Errorf("%q: err = %v, want %v", tc.header, err, tc.want)
		}
	}
}
