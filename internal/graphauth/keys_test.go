package graphauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// verifyIs fails t unless Verify's error is want (nil: accepted).
func verifyIs(t *testing.T, v *Verifier, header string, want error) error {
	t.Helper()
	_, err := v.Verify(t.Context(), header)
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	return err
}

// forged returns a token naming kid whose signature is never checked (the
// kid is unknown), cheap enough for floods.
func forged(t *testing.T, kid string, now time.Time) string {
	t.Helper()
	return "Bearer " + signingInput(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}, goodClaims(now)) + "." + b64([]byte("not-a-signature"))
}

// TestKeyRotation: a token signed with a key the cached JWKS lacks is
// refused at once with ErrUnknownKey and asks for a background refresh (at
// most one per MinRefreshInterval); once the IdP publishes the key and that
// refresh has finished, the same token verifies.
func TestKeyRotation(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	v := startVerifier(t, p, clock, func(c *Config) { c.MinRefreshInterval = time.Minute })
	start := p.jwksHits.Load()
	hits := func() int64 { return p.jwksHits.Load() - start }
	now := clock.Now()
	tokK1 := "Bearer " + rs(t, p.key("k1"), "RS256", "k1", goodClaims(now))
	tokK2 := "Bearer " + rs(t, p.key("k2"), "RS256", "k2", goodClaims(now))

	steps := []struct {
		name      string
		advance   time.Duration
		rotate    bool // the IdP now serves k2 only
		token     string
		want      error // at once
		refresh   bool  // the request asks for a refresh
		wantAfter error // the same token once that refresh has finished
		wantHits  int64 // JWKS fetches since start, after the step
	}{
		{"k1 verifies from the cache", 0, false, tokK1, nil, false, nil, 0},
		{"k2 right after start: rate-limited, no refresh", 0, false, tokK2, ErrUnknownKey, false, nil, 0},
		{"k2 after the interval: a refresh, still unknown", 2 * time.Minute, false, tokK2, ErrUnknownKey, true, ErrUnknownKey, 1},
		{"the IdP rotates to k2; within the interval no refresh", 30 * time.Second, true, tokK2, ErrUnknownKey, false, nil, 1},
		{"after the interval: refused at once, accepted after the refresh", time.Minute, false, tokK2, ErrUnknownKey, true, nil, 2},
		{"k2 again from the cache", 0, false, tokK2, nil, false, nil, 2},
		{"k1 is gone after the rotation", 0, false, tokK1, ErrUnknownKey, false, nil, 2},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.Advance(s.advance)
			if s.rotate {
				p.publish("/jwks", "k2")
			}
			kicks := v.keys.kicks.Load()
			n, _ := v.keys.refreshWatch()
			verifyIs(t, v, s.token, s.want)
			if got := v.keys.kicks.Load() - kicks; got != map[bool]int64{false: 0, true: 1}[s.refresh] {
				t.Fatalf("%d refreshes asked for, want refresh=%v", got, s.refresh)
			}
			if s.refresh {
				awaitRefresh(t, v, n)
				verifyIs(t, v, s.token, s.wantAfter)
			}
			if got := hits(); got != s.wantHits {
				t.Fatalf("%d JWKS fetches since start, want %d", got, s.wantHits)
			}
		})
	}
}

// TestRefreshRateLimit: a concurrent flood of tokens with unknown kids asks
// for at most one JWKS refresh per MinRefreshInterval.
func TestRefreshRateLimit(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	v := startVerifier(t, p, clock, func(c *Config) { c.MinRefreshInterval = time.Minute })
	start := p.jwksHits.Load()
	now := clock.Now()

	flood := func(t *testing.T, round int) {
		t.Helper()
		var wg sync.WaitGroup
		for i := range 100 {
			tok := forged(t, fmt.Sprintf("forged-%d-%d", round, i), now)
			wg.Go(func() {
				if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrUnknownKey) {
					t.Errorf("err = %v, want ErrUnknownKey", err)
				}
			})
		}
		wg.Wait()
	}
	rounds := []struct {
		name     string
		advance  time.Duration
		refresh  bool  // the round asks for one refresh
		wantHits int64 // JWKS fetches since start, after the round
	}{
		{"right after start (the initial fetch counts)", 0, false, 0},
		{"59s later", 59 * time.Second, false, 0},
		{"61s after start: one refresh", 2 * time.Second, true, 1},
		{"30s after that refresh", 30 * time.Second, false, 1},
		{"61s after that refresh: one more", 31 * time.Second, true, 2},
		{"immediately again", 0, false, 2},
		{"an hour later: one more", time.Hour, true, 3},
	}
	for i, r := range rounds {
		t.Run(r.name, func(t *testing.T) {
			clock.Advance(r.advance)
			kicks := v.keys.kicks.Load()
			n, _ := v.keys.refreshWatch()
			flood(t, i)
			want := map[bool]int64{false: 0, true: 1}[r.refresh]
			if got := v.keys.kicks.Load() - kicks; got != want {
				t.Fatalf("%d refreshes asked for, want %d", got, want)
			}
			if r.refresh {
				awaitRefresh(t, v, n)
			}
			if got := p.jwksHits.Load() - start; got != r.wantHits {
				t.Fatalf("%d JWKS fetches since start, want %d", got, r.wantHits)
			}
		})
	}
}

// TestUnknownKidDuringHangingRefresh: while the JWKS endpoint hangs, a flood
// of unknown-kid requests is answered without waiting for it (every request
// returns before the endpoint is released), no second fetch overlaps the
// one in flight, goroutines do not pile up, and cached keys keep
// verifying. Once released, the new key verifies.
func TestUnknownKidDuringHangingRefresh(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	// No client timeout: only the endpoint's release ends the hang.
	v := startVerifier(t, p, clock, func(c *Config) { c.HTTPClient = &http.Client{} })
	start := p.jwksHits.Load()
	now := clock.Now()
	tokK1 := "Bearer " + rs(t, p.key("k1"), "RS256", "k1", goodClaims(now))
	tokK2 := "Bearer " + rs(t, p.key("k2"), "RS256", "k2", goodClaims(now))
	entered, release := p.hangJWKS(t)
	p.publish("/jwks", "k1", "k2") // served once released

	clock.Advance(2 * time.Minute)
	n, _ := v.keys.refreshWatch()
	verifyIs(t, v, tokK2, ErrUnknownKey)
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the refresh for k2 never reached the JWKS endpoint")
	}

	// The refresh hangs. Another is allowed by now; it must wait behind it.
	clock.Advance(2 * time.Minute)
	const flood = 2000
	tokens := make([]string, flood)
	for i := range tokens {
		tokens[i] = forged(t, fmt.Sprintf("forged-%d", i), now)
	}
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("err = %v, want ErrUnknownKey", err)
			}
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-time.After(30 * time.Second):
		release()
		t.Fatal("unknown-kid requests wait for the hanging refresh")
	}
	// The endpoint still hangs here.
	if got := p.jwksHits.Load() - start; got != 1 {
		t.Fatalf("%d JWKS fetches while one hangs, want 1 (refreshes overlap)", got)
	}
	if got := v.keys.kicks.Load(); got != 2 {
		t.Fatalf("%d refreshes asked for, want 2 (the one in flight, one waiting)", got)
	}
	for settle := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before+10; runtime.Gosched() {
		if time.Now().After(settle) {
			t.Fatalf("%d goroutines after the flood returned, %d before it", runtime.NumGoroutine(), before)
		}
	}
	verifyIs(t, v, tokK1, nil)

	release()
	awaitRefresh(t, v, n+1) // the released refresh and the one waiting behind it
	if got := p.jwksHits.Load() - start; got != 2 {
		t.Fatalf("%d JWKS fetches in all, want 2", got)
	}
	verifyIs(t, v, tokK2, nil)
	verifyIs(t, v, tokK1, nil)
}

// TestRefreshFailure: a failing refresh is logged with its cause and URL;
// the unknown kid that asked for it is refused with ErrUnknownKey at once,
// and the cached keys keep verifying.
func TestRefreshFailure(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	rec := &logRecorder{}
	v := startVerifierLog(t, p, clock, nil, slog.New(rec))
	now := clock.Now()
	tokK1 := "Bearer " + rs(t, p.key("k1"), "RS256", "k1", goodClaims(now))
	tokK2 := "Bearer " + rs(t, p.key("k2"), "RS256", "k2", goodClaims(now))

	p.failJWKS(http.StatusServiceUnavailable, "")
	clock.Advance(2 * time.Minute)
	n, _ := v.keys.refreshWatch()
	err := verifyIs(t, v, tokK2, ErrUnknownKey)
	assertNoLeak(t, err, strings.TrimPrefix(tokK2, "Bearer "))
	awaitRefresh(t, v, n)
	logged := rec.find("graph signing keys refresh failed; keeping the cached keys")
	if len(logged) != 1 || logged[0].level != slog.LevelWarn || !strings.Contains(logged[0].attrs["err"], "503") ||
		logged[0].attrs["jwks"] != p.srv.URL+"/jwks" || logged[0].attrs["took"] == "" {
		t.Fatalf("log records %+v, want one warning naming the 503, the JWKS URL and the time taken", logged)
	}
	verifyIs(t, v, tokK1, nil)

	p.failJWKS(0, "")
	p.publish("/jwks", "k1", "k2")
	clock.Advance(2 * time.Minute)
	n, _ = v.keys.refreshWatch()
	verifyIs(t, v, tokK2, ErrUnknownKey)
	awaitRefresh(t, v, n)
	verifyIs(t, v, tokK2, nil)
}

// TestUnusableKeySetKeepsCachedKeys: a refresh whose JWKS holds no usable
// key (empty, not JSON, only keys of the wrong kty, alg or use, a bad
// modulus or exponent, no kid) or that fails never replaces the cached
// keys, and is logged as an error (a failed fetch as a warning). A set with
// one usable key among unusable ones replaces them.
func TestUnusableKeySetKeepsCachedKeys(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	rec := &logRecorder{}
	v := startVerifierLog(t, p, clock, nil, slog.New(rec))
	now := clock.Now()
	tokK1 := "Bearer " + rs(t, p.key("k1"), "RS256", "k1", goodClaims(now))
	tokK2 := "Bearer " + rs(t, p.key("k2"), "RS256", "k2", goodClaims(now))
	const (
		noUsable = "graph signing keys refresh returned no usable key; keeping the cached keys"
		failed   = "graph signing keys refresh failed; keeping the cached keys"
	)

	// refreshWith serves the JWKS serve sets up, has k2 ask for a refresh
	// and waits for it.
	refreshWith := func(t *testing.T, serve func()) {
		t.Helper()
		rec.reset()
		serve()
		clock.Advance(2 * time.Minute)
		n, _ := v.keys.refreshWatch()
		verifyIs(t, v, tokK2, ErrUnknownKey)
		awaitRefresh(t, v, n)
	}
	file := func(name string) func() { return func() { p.serveJWKSFile(t, name) } }
	cases := []struct {
		name  string
		serve func()
		msg   string
		level slog.Level
	}{
		{"empty set", file("empty"), noUsable, slog.LevelError},
		{"no keys member", file("no-keys-member"), noUsable, slog.LevelError},
		{"not JSON", file("not-json"), noUsable, slog.LevelError},
		{"EC key only", file("ec-only"), noUsable, slog.LevelError},
		{"symmetric key only", file("oct-only"), noUsable, slog.LevelError},
		{"RS512 key only", file("rs512-only"), noUsable, slog.LevelError},
		{"PS256 key only", file("ps256-only"), noUsable, slog.LevelError},
		{"encryption key only", file("enc-only"), noUsable, slog.LevelError},
		{"modulus not base64url", file("modulus-not-base64"), noUsable, slog.LevelError},
		{"empty modulus", file("modulus-empty"), noUsable, slog.LevelError},
		{"1024-bit modulus", file("modulus-1024"), noUsable, slog.LevelError},
		{"even exponent", file("exponent-even"), noUsable, slog.LevelError},
		{"exponent 1", file("exponent-one"), noUsable, slog.LevelError},
		{"key without kid", file("no-kid"), noUsable, slog.LevelError},
		{"every unusable key at once", file("all-unusable"), noUsable, slog.LevelError},
		{"HTTP 500", func() { p.failJWKS(http.StatusInternalServerError, "") }, failed, slog.LevelWarn},
		{"connection dropped", func() { p.failJWKS(dropConnection, "") }, failed, slog.LevelWarn},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			refreshWith(t, tc.serve)
			logged := rec.find(tc.msg)
			if len(logged) != 1 || logged[0].level != tc.level || logged[0].attrs["jwks"] != p.srv.URL+"/jwks" {
				t.Fatalf("log records %+v, want one %s record naming the JWKS URL", logged, tc.level)
			}
			if got := rec.find("graph signing keys refreshed"); len(got) != 0 {
				t.Fatalf("the keys were replaced: %+v", got)
			}
			verifyIs(t, v, tokK1, nil)
			verifyIs(t, v, tokK2, ErrUnknownKey) // k2 in the unusable set was not taken
		})
	}

	t.Run("one usable key among unusable ones", func(t *testing.T) {
		var doc struct {
			Keys []any `json:"keys"`
		}
		if err := json.Unmarshal(readJWKSFile(t, "all-unusable"), &doc); err != nil {
			t.Fatal(err)
		}
		pub := p.key("k2").PublicKey
		doc.Keys = append(doc.Keys, map[string]any{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k2",
			"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())})
		body, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		refreshWith(t, func() { p.failJWKS(0, string(body)) })
		if got := rec.find("graph signing key skipped"); len(got) != len(doc.Keys)-1 {
			t.Fatalf("%d skipped keys logged, want %d", len(got), len(doc.Keys)-1)
		}
		logged := rec.find("graph signing keys refreshed")
		if len(logged) != 1 || logged[0].attrs["keys"] != "1" || logged[0].attrs["kid_found"] != "true" {
			t.Fatalf("log records %+v, want one naming 1 key and the kid found", logged)
		}
		verifyIs(t, v, tokK2, nil)
		verifyIs(t, v, tokK1, ErrUnknownKey)
	})
}

// TestBackgroundRefresh: the JWKS is re-read every RefreshInterval without
// any unknown kid, a jwks_uri moved in the OpenID configuration is
// followed, and a scheduled refresh meeting an empty set keeps the keys.
func TestBackgroundRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for background refreshes")
	}
	p := newIDP(t)
	rec := &logRecorder{}
	v := startVerifierLog(t, p, nil, func(c *Config) {
		c.RefreshInterval = time.Second
		c.MinRefreshInterval = time.Hour // no unknown-kid refresh can help
	}, slog.New(rec))
	now := time.Now()
	// waitFor verifies kid's token until a scheduled refresh has brought
	// the key (within a few refreshes).
	waitFor := func(t *testing.T, kid string) {
		t.Helper()
		tok := "Bearer " + rs(t, p.key(kid), "RS256", kid, goodClaims(now))
		for range 5 {
			n, _ := v.keys.refreshWatch()
			_, err := v.Verify(t.Context(), tok)
			if err == nil {
				return
			}
			if !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("err = %v, want ErrUnknownKey until the refresh", err)
			}
			awaitRefresh(t, v, n)
		}
		t.Fatalf("key %s not picked up by the background refreshes", kid)
	}
	t.Run("same jwks_uri, new key", func(t *testing.T) {
		p.publish("/jwks", "k1", "k2")
		waitFor(t, "k2")
	})
	t.Run("moved jwks_uri", func(t *testing.T) {
		p.publish("/jwks-moved", "k3")
		p.moveJWKS("/jwks-moved")
		waitFor(t, "k3")
	})
	t.Run("an empty set on schedule keeps the keys", func(t *testing.T) {
		p.failJWKS(0, `{"keys":[]}`)
		t.Cleanup(func() { p.failJWKS(0, "") })
		rec.reset()
		for range 5 {
			if len(rec.find("graph signing keys refresh returned no usable key; keeping the cached keys")) > 0 {
				verifyIs(t, v, "Bearer "+rs(t, p.key("k3"), "RS256", "k3", goodClaims(now)), nil)
				return
			}
			n, _ := v.keys.refreshWatch()
			awaitRefresh(t, v, n)
		}
		t.Fatal("no scheduled refresh met the empty set")
	})
}

// TestClose: Close is idempotent, stops the background refreshes, and
// Verify keeps working on the cached keys (an unknown kid then fails fast).
func TestClose(t *testing.T) {
	p := newIDP(t)
	clock := &fakeClock{t: time.Now()}
	v, err := newVerifier(t.Context(), Config{Audience: testAudience, OpenIDConfigURL: p.openIDURL()}, quietLog(), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	v.Close()
	now := clock.Now()
	if _, err := v.Verify(t.Context(), "Bearer "+rs(t, p.key("k1"), "RS256", "k1", goodClaims(now))); err != nil {
		t.Fatalf("cached key after Close: %v", err)
	}
	clock.Advance(time.Hour)
	hits := p.jwksHits.Load()
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(t.Context(), "Bearer "+rs(t, p.key("k2"), "RS256", "k2", goodClaims(now).with(func(c claimSet) {
			c["exp"] = now.Add(2 * time.Hour).Unix()
		})))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("unknown kid after Close: %v, want ErrKeysUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Verify hangs after Close")
	}
	if p.jwksHits.Load() != hits {
		t.Fatal("the JWKS was fetched after Close")
	}
}
