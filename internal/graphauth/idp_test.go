package graphauth

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test fixtures: a local identity provider serving an OpenID configuration
// and JWKS from RSA keys the test generates, and a token minter that signs
// with crypto/rsa and crypto/hmac directly (independent of the library under
// test).

const (
	testAudience = "00000000-bot-app-id-0000"
	testIssuer   = "https://api.botframework.com"
	testTenant   = "tenant-a"
)

var (
	keyPoolOnce sync.Once
	keyPool     []*rsa.PrivateKey
)

// testKey returns the i-th of a few RSA keys generated once per test binary
// (2048-bit generation is slow under -race).
func testKey(t *testing.T, i int) *rsa.PrivateKey {
	t.Helper()
	keyPoolOnce.Do(func() {
		for range 4 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keyPool = append(keyPool, k)
		}
	})
	return keyPool[i]
}

// dropConnection, as failJWKS's status, makes the JWKS endpoint close the
// connection without an answer.
const dropConnection = -1

// idp is the local OpenID configuration + JWKS server.
type idp struct {
	srv *httptest.Server

	mu        sync.Mutex
	keys      map[string]*rsa.PrivateKey // every key a test signs with, by kid
	published map[string][]string        // kids served by each JWKS path
	jwksPath  string                     // the path the OpenID configuration names
	jwksFail  int                        // status to answer the JWKS with (0: serve it; dropConnection)
	jwksBody  string                     // body to serve instead of the JWKS ("": serve it)
	jwksHang  chan struct{}              // non-nil: JWKS requests wait until it is closed
	entered   chan struct{}              // receives a value when a JWKS request starts waiting

	openIDHits atomic.Int64
	jwksHits   atomic.Int64
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	p := &idp{
		keys:      map[string]*rsa.PrivateKey{"k1": testKey(t, 0), "k2": testKey(t, 1), "k3": testKey(t, 2)},
		published: map[string][]string{"/jwks": {"k1"}},
		jwksPath:  "/jwks",
		entered:   make(chan struct{}, 64),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openid", func(w http.ResponseWriter, r *http.Request) {
		p.openIDHits.Add(1)
		p.mu.Lock()
		path := p.jwksPath
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"id_token_signing_alg_values_supported":["RS256"]}`, testIssuer, p.srv.URL+path)
	})
	jwks := func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		p.mu.Lock()
		hang := p.jwksHang
		p.mu.Unlock()
		if hang != nil {
			select {
			case p.entered <- struct{}{}:
			default:
			}
			select {
			case <-hang:
			case <-r.Context().Done():
				return
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.jwksFail == dropConnection {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		if p.jwksFail != 0 {
			http.Error(w, "unavailable", p.jwksFail)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if p.jwksBody != "" {
			io.WriteString(w, p.jwksBody)
			return
		}
		type jwk struct {
			Kty string `json:"kty"`
			Use string `json:"use"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		}
		set := struct {
			Keys []jwk `json:"keys"`
		}{Keys: []jwk{}}
		for _, kid := range p.published[r.URL.Path] {
			pub := p.keys[kid].PublicKey
			set.Keys = append(set.Keys, jwk{Kty: "RSA", Use: "sig", Kid: kid,
				N: b64(pub.N.Bytes()), E: b64(big.NewInt(int64(pub.E)).Bytes())})
		}
		_ = json.NewEncoder(w).Encode(set)
	}
	mux.HandleFunc("GET /jwks", jwks)
	mux.HandleFunc("GET /jwks-moved", jwks)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) openIDURL() string { return p.srv.URL + "/openid" }

// publish sets the kids served at a JWKS path.
func (p *idp) publish(path string, kids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published[path] = kids
}

func (p *idp) moveJWKS(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwksPath = path
}

func (p *idp) failJWKS(status int, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwksFail, p.jwksBody = status, body
}

// hangJWKS makes JWKS requests wait until release (which t's cleanup calls
// too, before the server closes). entered receives a value as each request
// starts waiting.
func (p *idp) hangJWKS(t *testing.T) (entered <-chan struct{}, release func()) {
	t.Helper()
	hang := make(chan struct{})
	p.mu.Lock()
	p.jwksHang = hang
	p.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			p.mu.Lock()
			p.jwksHang = nil
			p.mu.Unlock()
			close(hang)
		})
	}
	t.Cleanup(release)
	return p.entered, release
}

// serveJWKSFile serves testdata/jwks/<name>.json as the JWKS.
func (p *idp) serveJWKSFile(t *testing.T, name string) {
	t.Helper()
	p.failJWKS(0, string(readJWKSFile(t, name)))
}

func readJWKSFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "jwks", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *idp) key(kid string) *rsa.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[kid]
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

type claimSet map[string]any

// goodClaims are valid claims at now.
func goodClaims(now time.Time) claimSet {
	return claimSet{
		"aud": testAudience, "iss": testIssuer, "tid": testTenant, "sub": "graph-calling",
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func (c claimSet) with(mod func(claimSet)) claimSet {
	out := claimSet{}
	for k, v := range c {
		out[k] = v
	}
	mod(out)
	return out
}

// signingInput returns base64url(header) "." base64url(payload).
func signingInput(t *testing.T, header map[string]any, payload any) string {
	t.Helper()
	p, ok := payload.(string) // a raw payload (not JSON) for malformed cases
	if ok {
		return b64JSON(t, header) + "." + b64([]byte(p))
	}
	return b64JSON(t, header) + "." + b64JSON(t, payload)
}

// rs signs with RSASSA-PKCS1-v1_5 and the hash of alg (RS256 or RS512).
func rs(t *testing.T, key *rsa.PrivateKey, alg, kid string, payload any) string {
	t.Helper()
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	in := signingInput(t, hdr, payload)
	var (
		sig []byte
		err error
	)
	switch alg {
	case "RS256":
		h := sha256.Sum256([]byte(in))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	case "RS512":
		h := sha512.Sum512([]byte(in))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA512, h[:])
	case "PS256":
		h := sha256.Sum256([]byte(in))
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, h[:], nil)
	default:
		t.Fatalf("rs: alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64(sig)
}

// hs256 signs with HMAC-SHA256 and secret (the key-confusion attack).
func hs256(t *testing.T, secret []byte, kid string, payload any) string {
	t.Helper()
	in := signingInput(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, payload)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64(m.Sum(nil))
}

// unsigned returns an alg-none token with an empty signature.
func unsigned(t *testing.T, alg, kid string, payload any) string {
	t.Helper()
	hdr := map[string]any{"typ": "JWT", "kid": kid}
	if alg != "" {
		hdr["alg"] = alg
	}
	return signingInput(t, hdr, payload) + "."
}

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startVerifier starts a Verifier against p; clock nil means time.Now.
func startVerifier(t *testing.T, p *idp, clock *fakeClock, mod func(*Config)) *Verifier {
	t.Helper()
	return startVerifierLog(t, p, clock, mod, quietLog())
}

// startVerifierLog is startVerifier logging to log.
func startVerifierLog(t *testing.T, p *idp, clock *fakeClock, mod func(*Config), log *slog.Logger) *Verifier {
	t.Helper()
	cfg := Config{Audience: testAudience, OpenIDConfigURL: p.openIDURL()}
	if mod != nil {
		mod(&cfg)
	}
	var (
		v   *Verifier
		err error
	)
	if clock == nil {
		v, err = NewVerifier(t.Context(), cfg, log)
	} else {
		v, err = newVerifier(t.Context(), cfg, log, clock.Now)
	}
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// assertNoLeak fails when err's message contains the token or any sizeable
// part of it (header, payload or signature segment).
func assertNoLeak(t *testing.T, err error, token string) {
	t.Helper()
	if err == nil || token == "" {
		return
	}
	msg := err.Error()
	if len(token) >= 8 && strings.Contains(msg, token) {
		t.Fatalf("the error echoes the token: %v", err)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 12 && strings.Contains(msg, part) {
			t.Fatalf("the error echoes part of the token (%d chars): %v", len(part), err)
		}
	}
}

// awaitRefresh waits until more than n background refreshes have finished
// (n from v.keys.refreshWatch before the refresh was asked for).
func awaitRefresh(t *testing.T, v *Verifier, n int64) {
	t.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		done, next := v.keys.refreshWatch()
		if done > n {
			return
		}
		select {
		case <-next:
		case <-guard.C:
			t.Fatalf("no background refresh finished (%d so far)", done)
		}
	}
}

// logRecorder is a slog.Handler keeping every record, safe for concurrent
// use.
type logRecorder struct {
	mu   sync.Mutex
	recs []loggedRecord
}

// loggedRecord is one record: its level, message and attributes as text.
type loggedRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	lr := loggedRecord{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, lr)
	return nil
}

func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// find returns the records with message msg.
func (r *logRecorder) find(msg string) []loggedRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []loggedRecord
	for _, lr := range r.recs {
		if lr.msg == msg {
			out = append(out, lr)
		}
	}
	return out
}

// reset forgets the records kept so far.
func (r *logRecorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = nil
}
